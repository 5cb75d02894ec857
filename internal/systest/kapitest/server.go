package kapitest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// Options configure a server. The zero value is ready to use.
type Options struct {
	// Addr is the loopback IP to listen on, e.g. "127.0.0.9"; "" means
	// 127.0.0.1. The port is always a free one.
	Addr string
	// Dir holds the PKI, logs and etcd data. "" means a new temporary
	// folder that Close removes.
	Dir string
	// Audit turns on an audit log of every request (level Metadata), read
	// by [Server.AuditEvents] and [Server.AuditSourceIPs].
	Audit bool
	// Binary is the kube-apiserver to run; "" means [Build].
	Binary string
	// BuildLog receives Build's progress lines; nil discards them.
	BuildLog io.Writer
	// Args are extra kube-apiserver flags, after the defaults.
	Args []string
	// ReadyTimeout bounds the wait for /readyz (and for the node's Ready
	// with Kubelet); 0 means 2 minutes.
	ReadyTimeout time.Duration
	// Kubelet starts a kubelet stand-in as node [NodeName] once the server
	// is ready: exec, attach, port-forward and logs of pods bound to it
	// work, served by the real kubelet streaming library (see the nested
	// module's package kubelet). Linux only.
	Kubelet bool
	// KubeletBinary is the stand-in to run; "" means [BuildKubelet].
	KubeletBinary string
	// JWTAuthn starts the server with an --authentication-config file
	// ([Server.AuthnFile]) that trusts no JWT issuer yet, which
	// [Server.SetAuthentication] replaces: a test can start the server
	// before the issuer it will trust has an address.
	JWTAuthn bool
}

// ClusterName is the cluster (and context) name in written kubeconfigs.
const ClusterName = "kapi"

// AdminUser is the user name of the admin client certificate (group
// system:masters) that kubeconfigs from [Server.Kubeconfig] use.
const AdminUser = "kubernetes-admin"

// Server is a running kube-apiserver with an embedded etcd.
type Server struct {
	URL  string // https://IP:PORT
	Addr string // IP:PORT
	Dir  string // PKI, logs and etcd data

	CAPEM          []byte // CA of the serving certificate and of client certificates
	ClientCertPEM  []byte // admin client certificate, O=system:masters
	ClientKeyPEM   []byte // its private key
	CAFile         string // the same three as files
	ClientCertFile string
	ClientKeyFile  string
	LogFile        string // the process's stdout and stderr
	// Node is [NodeName] with Options.Kubelet, else "".
	Node           string
	KubeletLogFile string // the stand-in's output, "" without one

	kubelet   *kubeletProc // nil without Options.Kubelet
	AuthnFile string       // the --authentication-config file; "" without Options.JWTAuthn

	auditFile string // "" without Options.Audit
	removeDir bool
	cmd       *exec.Cmd
	exited    chan struct{} // closed when cmd has been waited for
	closeOnce sync.Once
	closeErr  error
}

// StartProcess starts a kube-apiserver and returns once /readyz answers 200.
// ctx bounds building and starting, not the server's life: call
// [Server.Close] to stop it.
func StartProcess(ctx context.Context, opts Options) (*Server, error) {
	ip, err := loopbackIP(opts.Addr)
	if err != nil {
		return nil, err
	}
	bin := opts.Binary
	if bin == "" {
		if bin, err = Build(ctx, opts.BuildLog); err != nil {
			return nil, err
		}
	}
	if opts.Kubelet && opts.KubeletBinary == "" {
		if opts.KubeletBinary, err = BuildKubelet(ctx, opts.BuildLog); err != nil {
			return nil, err
		}
	}
	dir, removeDir := opts.Dir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "kapitest-"); err != nil {
			return nil, fmt.Errorf("kapitest: %w", err)
		}
		removeDir = true
	}
	s, err := start(ctx, bin, dir, ip, opts)
	if err != nil {
		if removeDir {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	s.removeDir = removeDir
	return s, nil
}

// start makes the PKI and runs the binary, retrying with another port when
// one it picked was taken in the meantime.
func start(ctx context.Context, bin, dir string, ip net.IP, opts Options) (*Server, error) {
	keys, err := newPKI(ip)
	if err != nil {
		return nil, fmt.Errorf("kapitest: pki: %w", err)
	}
	if err := keys.writeFiles(dir); err != nil {
		return nil, fmt.Errorf("kapitest: pki: %w", err)
	}
	s := &Server{
		Dir:            dir,
		CAPEM:          keys.caPEM,
		ClientCertPEM:  keys.clientCertPEM,
		ClientKeyPEM:   keys.clientKeyPEM,
		CAFile:         keys.caFile,
		ClientCertFile: keys.clientCertFile,
		ClientKeyFile:  keys.clientKeyFile,
		LogFile:        filepath.Join(dir, "kube-apiserver.log"),
	}
	args := append(baseArgs(dir, ip, keys), kubeletArgs(keys)...)
	if opts.Audit {
		policy := filepath.Join(dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
			return nil, fmt.Errorf("kapitest: audit policy: %w", err)
		}
		s.auditFile = filepath.Join(dir, "audit.log")
		args = append(args, "--audit-policy-file="+policy, "--audit-log-path="+s.auditFile)
	}
	if opts.JWTAuthn {
		s.AuthnFile = filepath.Join(dir, "authentication-config.yaml")
		if err := os.WriteFile(s.AuthnFile, []byte(emptyAuthn), 0o600); err != nil {
			return nil, fmt.Errorf("kapitest: authentication config: %w", err)
		}
		args = append(args, "--authentication-config="+s.AuthnFile)
	}
	timeout := opts.ReadyTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		port, err := freePort(ip)
		if err != nil {
			return nil, err
		}
		s.Addr = net.JoinHostPort(ip.String(), strconv.Itoa(port))
		s.URL = "https://" + s.Addr
		all := append(append(args[:len(args):len(args)], "--secure-port="+strconv.Itoa(port)), opts.Args...)
		if err := s.run(bin, all); err != nil {
			return nil, err
		}
		err = s.waitReady(ctx, timeout)
		if err == nil {
			if opts.Kubelet {
				if err := s.startKubelet(ctx, opts.KubeletBinary, keys, timeout); err != nil {
					_ = s.stop()
					return nil, err
				}
			}
			return s, nil
		}
		_ = s.stop()
		if !errors.Is(err, errExited) || attempt == attempts || !strings.Contains(s.LogTail(8000), "address already in use") {
			return nil, fmt.Errorf("kapitest: kube-apiserver on %s: %w\n%s", s.Addr, err, s.LogTail(4000))
		}
	}
}

// auditPolicy logs every request once, when its response is complete.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
`

// baseArgs are the flags every server gets; --secure-port comes per attempt.
func baseArgs(dir string, ip net.IP, k *pki) []string {
	return []string{
		"--embedded-etcd-dir=" + filepath.Join(dir, "etcd"),
		"--embedded-etcd-host=" + ip.String(),
		"--bind-address=" + ip.String(),
		"--advertise-address=" + ip.String(),
		// Endpoints validation rejects a loopback address otherwise.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--tls-cert-file=" + k.serverCertFile,
		"--tls-private-key-file=" + k.serverKeyFile,
		"--client-ca-file=" + k.caFile,
		"--service-account-key-file=" + k.saPubFile,
		"--service-account-signing-key-file=" + k.saKeyFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--anonymous-auth=false",
		"--profiling=false",
	}
}

// errExited reports that the process ended before it was ready.
var errExited = errors.New("process exited before it was ready")

// run starts the process with its output appended to LogFile.
func (s *Server) run(bin string, args []string) error {
	logf, err := os.OpenFile(s.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("kapitest: %w", err)
	}
	fmt.Fprintf(logf, "# %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("kapitest: start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
	return nil
}

// waitReady polls /readyz until it answers 200, the process exits, ctx
// ends or timeout passes.
func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	client, err := s.HTTPClient()
	if err != nil {
		return err
	}
	client.Timeout = 5 * time.Second
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("/readyz not 200 after %s", timeout))
	defer cancel()
	err = testenv.Poll(ctx, 100*time.Millisecond, func() error {
		select {
		case <-s.exited:
			return testenv.Stop(fmt.Errorf("%w: %s", errExited, s.cmd.ProcessState))
		default:
		}
		resp, err := client.Get(s.URL + "/readyz")
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil
	})
	if err != nil && !errors.Is(err, errExited) {
		return fmt.Errorf("waiting for /readyz: %w", err)
	}
	return err
}

// TLSConfig trusts the server's CA and presents the admin client certificate.
func (s *Server) TLSConfig() (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPEM) {
		return nil, errors.New("kapitest: CA PEM holds no certificate")
	}
	cert, err := tls.X509KeyPair(s.ClientCertPEM, s.ClientKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("kapitest: client certificate: %w", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// HTTPClient returns a client that talks to the server directly as the
// admin user.
func (s *Server) HTTPClient() (*http.Client, error) {
	cfg, err := s.TLSConfig()
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, Proxy: nil}}, nil
}

// Exited is closed when the process has ended, by Close or on its own.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Close stops the server (SIGTERM, then a kill after 20 s), waits for it and
// removes a temporary Dir. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.stop()
		if s.removeDir {
			if err := os.RemoveAll(s.Dir); err != nil && s.closeErr == nil {
				s.closeErr = fmt.Errorf("kapitest: %w", err)
			}
		}
	})
	return s.closeErr
}

// stop ends the kubelet stand-in and the current process and waits for them.
func (s *Server) stop() error {
	return errors.Join(s.stopKubelet(), s.stopAPIServer())
}

// stopAPIServer ends the kube-apiserver process and waits for it.
func (s *Server) stopAPIServer() error {
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := terminate(s.cmd.Process); err != nil {
		_ = s.cmd.Process.Kill()
	}
	grace := time.NewTimer(20 * time.Second)
	defer grace.Stop()
	select {
	case <-s.exited:
		return nil
	case <-grace.C:
	}
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kapitest: kill kube-apiserver: %w", err)
	}
	<-s.exited
	return nil
}

// LogTail returns the last n bytes of the process log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.LogFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(b, n)
}

// loopbackIP parses addr, defaulting to 127.0.0.1, and refuses anything but
// a loopback IP: the server is for tests on this machine only.
func loopbackIP(addr string) (net.IP, error) {
	if addr == "" {
		return net.IPv4(127, 0, 0, 1), nil
	}
	ip := net.ParseIP(addr)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("kapitest: Addr %q is not a loopback IP address", addr)
	}
	return ip, nil
}

// freePort returns a port that was free on ip a moment ago.
func freePort(ip net.IP) (int, error) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip})
	if err != nil {
		return 0, fmt.Errorf("kapitest: free port on %s: %w", ip, err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("kapitest: free port on %s: %w", ip, err)
	}
	return port, nil
}
