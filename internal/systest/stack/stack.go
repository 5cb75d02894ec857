package stack

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// Defaults of a demo stack.
const (
	DefaultApp     = "k8s.demo.airlock.test"
	DefaultEmail   = "demo@airlock.test"
	DefaultCluster = "demo"
	DefaultTunnel  = "demo"
	// EdgeName is the edge's name in the daemon's configuration.
	EdgeName = "local"
	// EdgeServerName is the edge's TLS server name (on its certificate)
	// and the host of its public sign-in URL.
	EdgeServerName = "edge.airlock.test"
	// KubeServer is the API server URL the demo kubeconfig names: a name
	// that resolves nowhere on this machine and is on the test
	// apiserver's certificate, so kubectl can only reach it through
	// Airlock (the daemon never resolves it, the connector dials its rule's
	// origin).
	KubeServer = "https://kubernetes.default.svc:443"
)

// Options configure a stack. The zero value runs the demo: a kube-apiserver
// behind one connector with HA connections, one app and one cluster.
type Options struct {
	// Bin is a folder holding airlock, airlock-edge and airlock-connector
	// (required; tests get one from Programs).
	Bin string
	// Dir holds every state folder and log; "" makes a temporary one that
	// Close removes.
	Dir string
	// Origin is the TCP host:port the connector's ingress rule names; ""
	// starts a kube-apiserver and uses it.
	Origin string
	// KubeAPI configures that kube-apiserver.
	KubeAPI kapitest.Options
	// App, Email: the app hostname and the service token's user.
	App, Email string
	// AllowDomains are the email domains the app's policy allows; nil
	// allows Email's domain.
	AllowDomains []string
	// HA is the connector's connections per edge; 0 means its default.
	HA int
	// ConnectorArgs and DaemonEnv add to those programs' flags and
	// environment.
	ConnectorArgs []string
	DaemonEnv     []string
	// DaemonEdgeYAML is more lines of the daemon's edge entry (each
	// "    key: value\n"), such as "    quic_retry: 2s\n".
	DaemonEdgeYAML string
	// ExtraClusters are more daemon clusters besides DefaultCluster, each
	// with its own listener and token file.
	ExtraClusters []Cluster
	// Log receives every program's output, each line prefixed with its
	// name; nil keeps it only in memory (Process.Output).
	Log io.Writer
	// Timeout bounds each start-up step; 0 means 60 s.
	Timeout time.Duration
	// SignIn, when set, makes the demo cluster sign in at the edge with its
	// built-in users instead of presenting a service token.
	SignIn *SignIn
	// NoDaemon starts the edge, the connector and the kube-apiserver only:
	// the test starts a daemon of its own (a person's fresh one, which
	// joins the edge).
	NoDaemon bool
}

// Cluster is a daemon cluster: an app and the token the daemon presents.
// With SignIn (and Options.SignIn set) it signs in at the edge instead,
// and its app is another hostname of the tunnel, served by the same
// origin.
//
// With Origin set instead, its app is another hostname of the tunnel whose
// ingress rule names Origin (TCP host:port), and the daemon presents a
// service token for Email minted for that app (Token is ignored).
type Cluster struct {
	Name, App, Token string
	SignIn           bool
	Origin           string
}

// signInApps are the extra clusters' apps that sign in.
func (s *Stack) signInApps() []string {
	var out []string
	for _, c := range s.opts.ExtraClusters {
		if c.SignIn && s.opts.SignIn != nil {
			out = append(out, c.App)
		}
	}
	return out
}

// Stack is a running Airlock path.
type Stack struct {
	Dir, Bin string
	App      string
	Email    string
	Token    string // the service token the daemon presents

	EdgeDir      string // the edge's state folder
	EdgeAddr     string // UDP host:port
	EdgeAdmin    string // http://host:port of /metrics and /healthz
	Credentials  string // the connector's credentials file
	ConnAdmin    string // http://host:port of the connector's /ready and /metrics
	DaemonConfig string
	Socket       string // the daemon's control socket
	Origin       string // what the connector dials

	// AuthURL is the edge's HTTPS sign-in server at its address
	// (https://IP:PORT); its public URL, what browsers are sent to, is
	// PublicURL (https://edge.airlock.test:PORT, a name that resolves
	// nowhere: browsers need a resolver rule).
	AuthURL, PublicURL string

	// The demo cluster's SOCKS5 listener and credentials, as in its
	// proxy-url.
	SOCKSAddr, User, Pass string

	KubeAPI *kapitest.Server // nil when Options.Origin was given
	// Kubeconfig is a kubeconfig for the test kube-apiserver ("" without
	// KubeAPI): the harness writes it without proxy-url, and the daemon,
	// which has it as $KUBECONFIG and maps its cluster entry
	// kapitest.ClusterName to DefaultCluster, points it at Airlock.
	Kubeconfig string

	Edge, Connector, Daemon *Process

	// DaemonEdgeAddr is the edge address the daemon's configuration names
	// ("" for EdgeAddr), and DaemonPrefix a command the daemon runs under
	// (such as ip netns exec NAME); set them before StartDaemon (with
	// Options.NoDaemon) to put the daemon in a network namespace behind a
	// relay to the edge.
	DaemonEdgeAddr string
	DaemonPrefix   []string

	opts    Options
	env     []string // the daemon's and the CLI's environment
	rmDir   bool
	cluster apitype.Cluster
}

// Start starts a stack and returns once kubectl (or any client) can use it:
// the connector is ready, the daemon's cluster is connected and, with a
// kube-apiserver, the daemon has written its proxy-url into Kubeconfig.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if opts.App == "" {
		opts.App = DefaultApp
	}
	if opts.Email == "" {
		opts.Email = DefaultEmail
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	s = &Stack{opts: opts, Dir: opts.Dir, Bin: opts.Bin, App: opts.App, Email: opts.Email}
	if s.Dir == "" {
		if s.Dir, err = os.MkdirTemp("", "airlock-stack-"); err != nil {
			return nil, err
		}
		s.rmDir = true
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Bin == "" {
		return s, errors.New("stack: no Options.Bin folder with the programs")
	}
	if err := s.startOrigin(ctx); err != nil {
		return s, err
	}
	if err := s.setUpEdge(ctx); err != nil {
		return s, err
	}
	if err := s.StartEdge(ctx); err != nil {
		return s, err
	}
	if err := s.StartConnector(ctx); err != nil {
		return s, err
	}
	if s.KubeAPI != nil {
		s.Kubeconfig = filepath.Join(s.Dir, "kubeconfig")
		if err := s.WriteKubeconfig(s.Kubeconfig, ""); err != nil {
			return s, err
		}
	}
	if opts.NoDaemon {
		return s, nil
	}
	if err := s.StartDaemon(ctx); err != nil {
		return s, err
	}
	return s, nil
}

func (s *Stack) startOrigin(ctx context.Context) error {
	if s.opts.Origin != "" {
		s.Origin = s.opts.Origin
		return nil
	}
	kopts := s.opts.KubeAPI
	if kopts.Dir == "" {
		kopts.Dir = filepath.Join(s.Dir, "kube-apiserver")
		if err := os.MkdirAll(kopts.Dir, 0o700); err != nil {
			return err
		}
	}
	if kopts.BuildLog == nil {
		kopts.BuildLog = s.opts.Log
	}
	k, err := kapitest.StartProcess(ctx, kopts)
	if err != nil {
		return err
	}
	s.KubeAPI, s.Origin = k, k.Addr
	return nil
}

// setUpEdge makes the edge state: init, a tunnel for the app and a token.
func (s *Stack) setUpEdge(ctx context.Context) error {
	s.EdgeDir = filepath.Join(s.Dir, "edge")
	ip := RandomLoopback()
	udp, err := FreeUDPPort(ip)
	if err != nil {
		return err
	}
	tcp, err := FreeTCPPort(ip)
	if err != nil {
		return err
	}
	s.EdgeAddr = net.JoinHostPort(ip, fmt.Sprint(udp))
	s.EdgeAdmin = "http://" + net.JoinHostPort(ip, fmt.Sprint(tcp))
	httpPort, err := FreeTCPPort(ip)
	if err != nil {
		return err
	}
	s.AuthURL = "https://" + net.JoinHostPort(ip, fmt.Sprint(httpPort))
	s.PublicURL = "https://" + net.JoinHostPort(EdgeServerName, fmt.Sprint(httpPort))
	if _, err := s.EdgeCLI(ctx, "init", "--listen", s.EdgeAddr, "--admin-listen", strings.TrimPrefix(s.EdgeAdmin, "http://"),
		"--http-listen", strings.TrimPrefix(s.AuthURL, "https://"),
		// The edge's IP too, so a browser on this machine can open the
		// sign-in pages at AuthURL (see BrowserURL).
		"--hostname", EdgeServerName, "--hostname", ip); err != nil {
		return err
	}
	domains := s.opts.AllowDomains
	if domains == nil {
		domains = []string{s.Email[strings.LastIndexByte(s.Email, '@')+1:]}
	}
	args := []string{"tunnel", "create", DefaultTunnel, "--hostname", s.App}
	for _, app := range s.signInApps() {
		args = append(args, "--hostname", app)
	}
	for _, c := range s.opts.ExtraClusters {
		if c.Origin != "" {
			args = append(args, "--hostname", c.App)
		}
	}
	for _, d := range domains {
		args = append(args, "--allow-email-domain", d)
	}
	if _, err := s.EdgeCLI(ctx, args...); err != nil {
		return err
	}
	if s.opts.SignIn != nil {
		for _, u := range s.opts.SignIn.Users {
			if err := s.AddUser(ctx, u); err != nil {
				return err
			}
		}
	}
	s.Credentials = filepath.Join(s.EdgeDir, "tunnels", DefaultTunnel+".json")
	if s.Token, err = s.MintToken(ctx, s.App, s.Email, "24h"); err != nil {
		return err
	}
	s.opts.ExtraClusters = slices.Clone(s.opts.ExtraClusters) // the caller's stays as it was
	for i, c := range s.opts.ExtraClusters {
		if c.Origin == "" {
			continue
		}
		if s.opts.ExtraClusters[i].Token, err = s.MintToken(ctx, c.App, s.Email, "24h"); err != nil {
			return err
		}
	}
	return nil
}

// EdgeCLI runs `airlock-edge ARGS --dir EDGEDIR` and returns its stdout.
func (s *Stack) EdgeCLI(ctx context.Context, args ...string) (string, error) {
	args = append(args, "--dir", s.EdgeDir)
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock-edge"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("airlock-edge %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// MintToken returns a service token for email to open app.
func (s *Stack) MintToken(ctx context.Context, app, email, ttl string) (string, error) {
	out, err := s.EdgeCLI(ctx, "token", "mint", "--app", app, "--email", email, "--ttl", ttl)
	return strings.TrimSpace(out), err
}

// StartEdge starts (or restarts) airlock-edge serve on EdgeAddr and waits
// until its /healthz answers.
func (s *Stack) StartEdge(ctx context.Context) error {
	p, err := startProcess("edge", s.opts.Log, nil, filepath.Join(s.Bin, "airlock-edge"), "serve", "--dir", s.EdgeDir)
	if err != nil {
		return err
	}
	s.Edge = p
	return s.waitHTTP(ctx, p, s.EdgeAdmin+"/healthz")
}

// StartConnector starts (or restarts) airlock-connector with the tunnel's
// credentials and one ingress rule, app → Origin, and waits until /ready.
func (s *Stack) StartConnector(ctx context.Context) error {
	if s.ConnAdmin == "" {
		port, err := FreeTCPPort("127.0.0.1")
		if err != nil {
			return err
		}
		s.ConnAdmin = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	p, err := s.startConnector(ctx, "connector", s.ConnAdmin)
	if p != nil {
		s.Connector = p
	}
	return err
}

// StartConnectorInstance starts one more airlock-connector with the same
// credentials and ingress as StartConnector's, so another instance (its own
// connector id) of the same tunnel, on an admin address of its own, and
// waits until it is ready. It returns the process and its admin URL
// (http://host:port of /ready and /metrics); the caller stops it (Close
// does not).
func (s *Stack) StartConnectorInstance(ctx context.Context) (*Process, string, error) {
	port, err := FreeTCPPort("127.0.0.1")
	if err != nil {
		return nil, "", err
	}
	admin := fmt.Sprintf("http://127.0.0.1:%d", port)
	p, err := s.startConnector(ctx, fmt.Sprintf("connector-%d", port), admin)
	if err != nil && p != nil {
		p.Kill()
		p = nil
	}
	return p, admin, err
}

// startConnector starts airlock-connector named name with its admin
// listener at admin, and waits until /ready.
func (s *Stack) startConnector(ctx context.Context, name, admin string) (*Process, error) {
	args := []string{
		"--credentials", s.Credentials,
		"--ingress", s.App + "=tcp://" + s.Origin,
		"--admin", strings.TrimPrefix(admin, "http://"),
		"--grace", "5s",
	}
	for _, app := range s.signInApps() {
		args = append(args, "--ingress", app+"=tcp://"+s.Origin)
	}
	for _, c := range s.opts.ExtraClusters {
		if c.Origin != "" {
			args = append(args, "--ingress", c.App+"=tcp://"+c.Origin)
		}
	}
	if s.opts.HA > 0 {
		args = append(args, "--ha-connections", fmt.Sprint(s.opts.HA))
	}
	args = append(args, s.opts.ConnectorArgs...)
	p, err := startProcess(name, s.opts.Log, nil, filepath.Join(s.Bin, "airlock-connector"), args...)
	if err != nil {
		return nil, err
	}
	return p, s.waitHTTP(ctx, p, admin+"/ready")
}

// StartDaemon writes the daemon's configuration (on first use) and starts
// `airlock daemon`, then waits until the cluster is connected and, with a
// kube-apiserver, until the daemon reports the proxy-url written into the
// kubeconfig entry kapitest.ClusterName.
func (s *Stack) StartDaemon(ctx context.Context) error {
	if s.DaemonConfig == "" {
		if err := s.writeDaemonConfig(); err != nil {
			return err
		}
	}
	argv := append(append([]string{}, s.DaemonPrefix...), filepath.Join(s.Bin, "airlock"), "daemon", "--config", s.DaemonConfig)
	p, err := startProcess("daemon", s.opts.Log, s.env, argv[0], argv[1:]...)
	if err != nil {
		return err
	}
	s.Daemon = p
	c, err := s.WaitCluster(ctx, DefaultCluster, apitype.StateConnected)
	if err != nil {
		return err
	}
	if s.KubeAPI != nil {
		if c, err = s.WaitKubeconfig(ctx, DefaultCluster, kapitest.ClusterName); err != nil {
			return err
		}
	}
	s.cluster = c
	u, err := url.Parse(c.ProxyURL)
	if err != nil {
		return fmt.Errorf("the daemon's proxy url %q: %w", c.ProxyURL, err)
	}
	s.SOCKSAddr, s.User = u.Host, u.User.Username()
	s.Pass, _ = u.User.Password()
	return nil
}

func (s *Stack) writeDaemonConfig() error {
	home := filepath.Join(s.Dir, "daemon")
	run := filepath.Join(home, "run")
	for _, d := range []string{run, filepath.Join(home, "config"), filepath.Join(home, "state")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	s.env = append([]string{
		"XDG_RUNTIME_DIR=" + run,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"KUBECONFIG=" + filepath.Join(s.Dir, "kubeconfig"),
		// No session bus unless DaemonEnv names one: the daemon must not
		// reach the keyring of the user running the tests.
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(home, "no-session-bus"),
	}, s.opts.DaemonEnv...)
	s.Socket = filepath.Join(run, "airlock", "airlock.sock")
	ca := filepath.Join(s.EdgeDir, "ca.crt")
	top, authURL := s.signInConfig()
	cfg := fmt.Sprintf(`# written by the airlock stack harness
%sedges:
  - name: %s
    address: %q
    ca: %q
    server_name: %s
%s%sclusters:
`, top, EdgeName, cmp.Or(s.DaemonEdgeAddr, s.EdgeAddr), ca, EdgeServerName, s.opts.DaemonEdgeYAML, authURL)
	clusters := append([]Cluster{{Name: DefaultCluster, App: s.App, Token: s.Token}}, s.opts.ExtraClusters...)
	for _, c := range clusters {
		if err := s.SetToken(c.Name, c.Token); err != nil {
			return err
		}
		cfg += fmt.Sprintf("  - name: %s\n    app: %s\n    listen: %q\n", c.Name, c.App, RandomLoopback()+":0")
		if s.opts.SignIn == nil || (c.Name != DefaultCluster && !c.SignIn) {
			cfg += fmt.Sprintf("    token_file: %q\n", s.TokenFile(c.Name))
		}
		if c.Name == DefaultCluster && s.KubeAPI != nil {
			cfg += fmt.Sprintf("    kubeconfig:\n      clusters: [%q]\n", kapitest.ClusterName)
		}
	}
	s.DaemonConfig = filepath.Join(home, "config", "airlock", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(s.DaemonConfig), 0o700); err != nil {
		return err
	}
	return os.WriteFile(s.DaemonConfig, []byte(cfg), 0o600)
}

// TokenFile is the file holding the token the daemon presents for cluster.
func (s *Stack) TokenFile(cluster string) string {
	return filepath.Join(s.Dir, "daemon", cluster+".token")
}

// SetToken replaces the token the daemon presents for cluster; the daemon
// reads the file again before its next stream.
func (s *Stack) SetToken(cluster, tok string) error {
	path := s.TokenFile(cluster)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Env returns the environment under which `airlock` CLI verbs reach this
// stack's daemon.
func (s *Stack) Env() []string { return append(os.Environ(), s.env...) }

// Client returns a control API client for the daemon.
func (s *Stack) Client() *client.Client { return &client.Client{Socket: s.Socket} }

// WaitCluster polls the daemon until cluster name reaches state.
func (s *Stack) WaitCluster(ctx context.Context, name string, state apitype.State) (apitype.Cluster, error) {
	return s.waitStatus(ctx, name, "be "+string(state), func(cl *apitype.Cluster) error {
		if cl.State == state {
			return nil
		}
		err := fmt.Errorf("cluster %s is %s", name, cl.State)
		if cl.Problem != nil {
			err = fmt.Errorf("%w: %s", err, cl.Problem.Message)
		}
		return err
	})
}

// WaitKubeconfig polls the daemon until it reports that cluster name's
// proxy-url is in kubeconfig cluster entry entry, with no kubeconfig
// problem, and returns the cluster as it was then.
func (s *Stack) WaitKubeconfig(ctx context.Context, name, entry string) (apitype.Cluster, error) {
	return s.waitStatus(ctx, name, "have its proxy-url in kubeconfig entry "+entry, func(cl *apitype.Cluster) error {
		k := cl.Kubeconfig
		switch {
		case k == nil:
			return fmt.Errorf("cluster %s maps no kubeconfig entry", name)
		case k.Problem != nil:
			return fmt.Errorf("kubeconfig problem: %s: %s", k.Problem.Code, k.Problem.Message)
		case cl.ProxyURL == "":
			return fmt.Errorf("cluster %s is not listening (%s)", name, cl.State)
		}
		for _, e := range k.Applied {
			if e.Cluster == entry {
				return nil
			}
		}
		return fmt.Errorf("entry %s not applied yet (applied: %v)", entry, k.Applied)
	})
}

// waitStatus polls the daemon until ok accepts cluster name.
func (s *Stack) waitStatus(ctx context.Context, name, what string, ok func(*apitype.Cluster) error) (apitype.Cluster, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	c := s.Client()
	var cl apitype.Cluster
	err := testenv.Poll(ctx, pollEvery, s.Daemon.unlessExited(func() error {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		found := st.FindCluster(name)
		if found == nil {
			return fmt.Errorf("no cluster %s in the daemon's status", name)
		}
		if err := ok(found); err != nil {
			return err
		}
		cl = *found
		return nil
	}))
	switch {
	case errors.Is(err, errExited):
		return apitype.Cluster{}, fmt.Errorf("daemon exited (%v); output:\n%s", s.Daemon.err, tail(s.Daemon.Output()))
	case err != nil:
		return apitype.Cluster{}, fmt.Errorf("wait for cluster %s to %s: %v; daemon output:\n%s", name, what, err, tail(s.Daemon.Output()))
	}
	return cl, nil
}

// ProxyURL is the demo cluster's full proxy-url, socks5://USER:PASS@ADDR.
func (s *Stack) ProxyURL() string { return s.cluster.ProxyURL }

// ClusterProxy returns a cluster's proxy-url as the daemon reports it.
func (s *Stack) ClusterProxy(ctx context.Context, name string) (*url.URL, error) {
	st, err := s.Client().Status(ctx)
	if err != nil {
		return nil, err
	}
	c := st.FindCluster(name)
	if c == nil {
		return nil, fmt.Errorf("no cluster %s in the daemon's status", name)
	}
	return url.Parse(c.ProxyURL)
}

// WriteKubeconfig writes a kubeconfig for the test kube-apiserver that
// names KubeServer as its server, with proxyURL as proxy-url ("" for none).
// The file appears whole, by rename, as kubectl and other tools replace
// kubeconfigs; the same arguments give the same bytes.
func (s *Stack) WriteKubeconfig(path, proxyURL string) error {
	if s.KubeAPI == nil {
		return errors.New("no kube-apiserver in this stack")
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".stack-tmp")
	defer os.Remove(tmp) // no-op after the rename
	if err := s.KubeAPI.Kubeconfig(tmp, proxyURL); err != nil {
		return err
	}
	b, err := os.ReadFile(tmp)
	if err != nil {
		return err
	}
	out := strings.ReplaceAll(string(b), s.KubeAPI.URL, KubeServer)
	if err := os.WriteFile(tmp, []byte(out), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *Stack) waitHTTP(ctx context.Context, p *Process, u string) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	err := testenv.Poll(ctx, pollEvery, p.unlessExited(func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", u, resp.Status)
		}
		return nil
	}))
	switch {
	case errors.Is(err, errExited):
		return fmt.Errorf("%s exited (%v) before it was ready; output:\n%s", p.Name, p.err, tail(p.Output()))
	case err != nil:
		return fmt.Errorf("%s not ready: %v; output:\n%s", p.Name, err, tail(p.Output()))
	}
	return nil
}

// Close stops the daemon, the connector, the edge and the kube-apiserver,
// in that order, and returns every program that did not exit 0 on SIGTERM.
func (s *Stack) Close() error {
	var errs []error
	for _, p := range []*Process{s.Daemon, s.Connector, s.Edge} {
		if p != nil && !p.Exited() {
			errs = append(errs, p.Stop(15*time.Second))
		}
	}
	if s.KubeAPI != nil {
		errs = append(errs, s.KubeAPI.Close())
	}
	if s.rmDir {
		os.RemoveAll(s.Dir)
	}
	return errors.Join(errs...)
}

// RandomLoopback returns a random address in 127.0.0.0/8 (never
// 127.0.0.1, never a network or broadcast-looking one), so that
// concurrent stacks and tests do not share addresses.
func RandomLoopback() string {
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("127.%d.%d.%d", 100+int(b[0])%100, 1+int(b[1])%250, 2+int(b[2])%250)
}

// FreeTCPPort returns a TCP port that was free on ip a moment ago.
func FreeTCPPort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeUDPPort returns a UDP port that was free on ip a moment ago.
func FreeUDPPort(ip string) (int, error) {
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
