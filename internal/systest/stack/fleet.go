package stack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// FleetOptions make a stack's edge the first of a fleet of edges on one
// shared PostgreSQL store (the edge config's store: section).
type FleetOptions struct {
	// StoreURLFile is the credentials file holding the database URL, as
	// store.url_file names it (required; mode 0600).
	StoreURLFile string
	// Edges is how many edges start with the stack, the first included
	// (0 means 1); AddEdge adds more later.
	Edges int
}

// Fleet is a stack whose edge is one of several real airlock-edge
// processes on one shared store. The stack's own edge (Stack.Edge,
// EdgeAddr, EdgeDir) is Edges[0]; the connectors are given its address
// only (their credentials name it) and learn the others from the fleet;
// the daemon's edge entry lists the addresses of the edges started with
// the stack (`addresses:`).
//
// The other edges are set up the way an operator adds an edge to a fleet:
// a copy of the first edge's state folder (its TLS certificate, CA, token
// signing key, tunnels, apps and users: the config the fleet shares) with
// the addresses, edge_id and advertise: of its own. They share the first
// edge's signing key: the edge CLI has no way to give a copy a key of its
// own (key rotate at the copy would publish the shared key as retired,
// and it would expire at every edge).
type Fleet struct {
	*Stack
	Edges []*FleetEdge
	opts  FleetOptions
}

// FleetEdge is one edge of a fleet.
type FleetEdge struct {
	ID      string // its edge_id: "a", "b", ...
	Dir     string // its state folder
	Addr    string // UDP host:port, also what it advertises to connectors
	Admin   string // http://host:port of /metrics and /healthz
	AuthURL string // https://IP:PORT of its sign-in server
	// PublicURL is its sign-in server's public URL,
	// https://edge.airlock.test:PORT.
	PublicURL string
	Process   *Process

	bin string
}

// StartFleet starts a stack (as Start does) whose edge is on the shared
// store of fo, then fo.Edges-1 more edges of the fleet, before the
// connector and the daemon: the daemon's edge entry lists every edge
// started here. It runs `airlock-edge migrate` once, before the first
// edge starts, as an operator does.
func StartFleet(ctx context.Context, opts Options, fo FleetOptions) (f *Fleet, err error) {
	if fo.StoreURLFile == "" {
		return nil, errors.New("stack: a fleet needs FleetOptions.StoreURLFile")
	}
	fo.Edges = max(fo.Edges, 1)
	s, err := newStack(opts)
	if err != nil {
		return nil, err
	}
	f = &Fleet{Stack: s, opts: fo}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if err := s.startOrigin(ctx); err != nil {
		return f, err
	}
	if err := s.setUpEdge(ctx); err != nil {
		return f, err
	}
	a := &FleetEdge{ID: "a", Dir: s.EdgeDir, Addr: s.EdgeAddr, Admin: s.EdgeAdmin, AuthURL: s.AuthURL, PublicURL: s.PublicURL, bin: s.Bin}
	if err := a.writeConfig(filepath.Join(s.EdgeDir, "config.yaml"), fo.StoreURLFile); err != nil {
		return f, err
	}
	if _, err := a.CLI(ctx, "migrate"); err != nil {
		return f, err
	}
	if err := s.StartEdge(ctx); err != nil {
		return f, err
	}
	a.Process = s.Edge
	f.Edges = append(f.Edges, a)
	for len(f.Edges) < fo.Edges {
		if _, err := f.AddEdge(ctx); err != nil {
			return f, err
		}
	}
	if err := s.StartConnector(ctx); err != nil {
		return f, err
	}
	if s.KubeAPI != nil {
		s.Kubeconfig = filepath.Join(s.Dir, "kubeconfig")
		if err := s.WriteKubeconfig(s.Kubeconfig, ""); err != nil {
			return f, err
		}
	}
	if err := f.writeDaemonConfig(); err != nil {
		return f, err
	}
	if err := s.StartDaemon(ctx); err != nil {
		return f, err
	}
	return f, nil
}

// newStack is a Stack with Start's defaults and its folder.
func newStack(opts Options) (*Stack, error) {
	if opts.App == "" {
		opts.App = DefaultApp
	}
	if opts.Email == "" {
		opts.Email = DefaultEmail
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Bin == "" {
		return nil, errors.New("stack: no Options.Bin folder with the programs")
	}
	s := &Stack{opts: opts, Dir: opts.Dir, Bin: opts.Bin, App: opts.App, Email: opts.Email}
	if s.Dir == "" {
		var err error
		if s.Dir, err = os.MkdirTemp("", "airlock-stack-"); err != nil {
			return nil, err
		}
		s.rmDir = true
	}
	return s, nil
}

// writeDaemonConfig writes the daemon's configuration with one edge entry
// whose addresses are the fleet's edges.
func (f *Fleet) writeDaemonConfig() error {
	if err := f.Stack.writeDaemonConfig(); err != nil {
		return err
	}
	b, err := os.ReadFile(f.DaemonConfig)
	if err != nil {
		return err
	}
	one := fmt.Sprintf("    address: %q\n", f.EdgeAddr)
	if strings.Count(string(b), one) != 1 {
		return fmt.Errorf("stack: the daemon config has no line %q", one)
	}
	addrs := make([]string, len(f.Edges))
	for i, e := range f.Edges {
		addrs[i] = fmt.Sprintf("%q", e.Addr)
	}
	cfg := strings.Replace(string(b), one, "    addresses: ["+strings.Join(addrs, ", ")+"]\n", 1)
	return os.WriteFile(f.DaemonConfig, []byte(cfg), 0o600)
}

// AddEdge sets up one more edge of the fleet, a copy of the first edge's
// state folder as it is now, on addresses of its own, and starts it. The
// connectors reach it through the fleet's membership; the daemon's config
// is not changed.
func (f *Fleet) AddEdge(ctx context.Context) (*FleetEdge, error) {
	ip := RandomLoopback()
	udp, err := FreeUDPPort(ip)
	if err != nil {
		return nil, err
	}
	var tcp [2]int
	for i := range tcp {
		if tcp[i], err = FreeTCPPort(ip); err != nil {
			return nil, err
		}
	}
	id := string(rune('a' + len(f.Edges)))
	e := &FleetEdge{
		ID:        id,
		Dir:       filepath.Join(f.Dir, "edge-"+id),
		Addr:      net.JoinHostPort(ip, fmt.Sprint(udp)),
		Admin:     "http://" + net.JoinHostPort(ip, fmt.Sprint(tcp[0])),
		AuthURL:   "https://" + net.JoinHostPort(ip, fmt.Sprint(tcp[1])),
		PublicURL: "https://" + net.JoinHostPort(EdgeServerName, fmt.Sprint(tcp[1])),
		bin:       f.Bin,
	}
	if err := copyEdgeState(f.EdgeDir, e.Dir); err != nil {
		return nil, err
	}
	if err := e.writeConfig(filepath.Join(e.Dir, "config.yaml"), f.opts.StoreURLFile); err != nil {
		return nil, err
	}
	if err := e.Start(ctx, f.Stack); err != nil {
		return e, err
	}
	f.Edges = append(f.Edges, e)
	return e, nil
}

// Start starts (or restarts) the edge and waits until its /healthz
// answers.
func (e *FleetEdge) Start(ctx context.Context, s *Stack) error {
	p, err := startProcess("edge-"+e.ID, s.opts.Log, nil, filepath.Join(e.bin, "airlock-edge"), "serve", "--dir", e.Dir)
	if err != nil {
		return err
	}
	e.Process = p
	if e.Dir == s.EdgeDir {
		s.Edge = p
	}
	return s.waitHTTP(ctx, p, e.Admin+"/healthz")
}

// CLI runs `airlock-edge ARGS --dir DIR` on this edge's state folder and
// returns its stdout.
func (e *FleetEdge) CLI(ctx context.Context, args ...string) (string, error) {
	s := &Stack{Bin: e.bin, EdgeDir: e.Dir}
	return s.EdgeCLI(ctx, args...)
}

// SignInClient returns an HTTP client for this edge's sign-in server as a
// browser on this machine would reach it (see Stack.SignInClient): it
// trusts the fleet's CA and reaches PublicURL's name at AuthURL.
func (e *FleetEdge) SignInClient() (*http.Client, error) {
	pemBytes, err := os.ReadFile(filepath.Join(e.Dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("the edge's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("the edge's CA: no certificate in ca.crt")
	}
	public, actual := strings.TrimPrefix(e.PublicURL, "https://"), strings.TrimPrefix(e.AuthURL, "https://")
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: EdgeServerName, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == public {
				addr = actual
			}
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2: true,
	}
	return &http.Client{Transport: tr, Timeout: time.Minute}, nil
}

// Close stops the fleet's other edges, then the stack (Stack.Close), and
// returns every program that did not exit 0 on SIGTERM; an edge the test
// killed is not reported.
func (f *Fleet) Close() error {
	var errs []error
	for _, e := range f.Edges[min(1, len(f.Edges)):] {
		if e.Process != nil && !e.Process.Exited() {
			errs = append(errs, e.Process.Stop(15*time.Second))
		}
	}
	return errors.Join(append(errs, f.Stack.Close())...)
}

// Lines of an edge config that differ between the fleet's edges.
var (
	listenLine = regexp.MustCompile(`(?m)^(listen|admin_listen|http_listen): .*\n`)
	fleetLine  = regexp.MustCompile(`(?m)^(edge_id|advertise): .*\n`)
)

// writeConfig rewrites the edge config at path (an `airlock-edge init`
// config, or another edge's fleet config) for this edge: its listeners,
// the shared store in place of the embedded store_file, its edge_id and
// the address it advertises.
func (e *FleetEdge) writeConfig(path, urlFile string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	cfg := string(b)
	if n := len(listenLine.FindAllString(cfg, -1)); n != 3 {
		return fmt.Errorf("stack: %s has %d listen, admin_listen and http_listen lines, want 3", path, n)
	}
	values := map[string]string{
		"listen": e.Addr, "admin_listen": strings.TrimPrefix(e.Admin, "http://"), "http_listen": strings.TrimPrefix(e.AuthURL, "https://"),
	}
	cfg = listenLine.ReplaceAllStringFunc(cfg, func(line string) string {
		key := line[:strings.IndexByte(line, ':')]
		return fmt.Sprintf("%s: %q\n", key, values[key])
	})
	cfg = fleetLine.ReplaceAllString(cfg, "")
	const embedded = "store_file: signin.db\n"
	switch {
	case strings.Contains(cfg, embedded):
		cfg = strings.Replace(cfg, embedded, fmt.Sprintf("store:\n  url_file: %q\n", urlFile), 1)
	case !strings.Contains(cfg, "\nstore:\n"):
		return fmt.Errorf("stack: %s has neither %q nor a store: section", path, strings.TrimSpace(embedded))
	}
	cfg += fmt.Sprintf("edge_id: %q\nadvertise: %q\n", e.ID, e.Addr)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// copyEdgeState copies the files of an edge's state folder that a fleet
// shares (config, certificate, CA certificate, signing and reset keys)
// into a new folder: not the CA's private key, the config lock or the
// connectors' credentials.
func copyEdgeState(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, ent := range entries {
		name := ent.Name()
		if !ent.Type().IsRegular() || name == "ca.key" || strings.HasSuffix(name, ".lock") || strings.HasPrefix(name, ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			return err
		}
		var mode fs.FileMode = 0o600
		if info, err := ent.Info(); err == nil {
			mode = info.Mode().Perm()
		}
		if err := os.WriteFile(filepath.Join(to, name), b, mode); err != nil {
			return err
		}
	}
	return nil
}
