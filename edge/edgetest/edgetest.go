// Package edgetest runs a real, in-process Airlock edge for other packages'
// tests (connector, daemon, end-to-end): a fresh state folder made by
// edge.Init in a temp dir, QUIC on 127.0.0.1 with a kernel-chosen UDP
// port, the admin listener on 127.0.0.1:0, and the audit log captured in
// memory. The edge stops in tb.Cleanup.
//
// A typical test:
//
//	e := edgetest.Start(t, edgetest.Options{})
//	tun := e.CreateTunnel(t, "demo", "k8s.demo.test") // allows *@example.com
//	// run a connector with tun.CredentialsFile (or tun.Credentials) ...
//	tok := e.MintToken(t, "k8s.demo.test", "alice@example.com", time.Hour)
//	// dial e.Addr with e.ClientTLS(), send edge.Open{App, Token: tok} ...
//	rec := e.WaitAudit(t, func(r edge.AuditRecord) bool { return r.App == "k8s.demo.test" })
//
// Sign-in: the edge's HTTPS sign-in server is at [Edge.OAuthURL]
// (https://127.0.0.1:PORT, the edge certificate; [Edge.HTTPClient] trusts
// it). [Edge.AddUser] puts a user in the built-in user list:
//
//	e.AddUser(t, "alice@example.com", "correct horse", "sre")
//	// OAuth metadata: e.OAuthURL + "/.well-known/oauth-authorization-server"
//
// Methods take the calling test's testing.TB, so they work from subtests.
package edgetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// DefaultEmailDomain is the domain the policy of apps made by
// [Edge.CreateTunnel] allows: any alice@example.com may pass.
const DefaultEmailDomain = "example.com"

// Options tune [Start]. The zero value is fine for most tests.
type Options struct {
	// Hostnames are extra names for the edge certificate (besides
	// localhost, 127.0.0.1 and ::1).
	Hostnames []string
	// Logger receives the edge's logs (default: stderr with -v, else none).
	Logger *slog.Logger
	// ShutdownGrace for open streams at Stop/Restart (default 1s).
	ShutdownGrace time.Duration
	// Listen is the UDP address (default "127.0.0.1:0").
	Listen string
}

// Edge is a running test edge.
type Edge struct {
	// Dir is the state folder; ConfigPath its config.yaml.
	Dir, ConfigPath string
	// Addr is the QUIC (UDP) address to dial, "127.0.0.1:PORT". It stays
	// the same across Restart.
	Addr string
	// AdminURL is "http://127.0.0.1:PORT" serving /metrics and /healthz.
	AdminURL string
	// OAuthURL is the base URL of the HTTPS sign-in server,
	// "https://127.0.0.1:PORT" (the config's public_url). It stays the
	// same across Restart.
	OAuthURL string
	// ServerName is the TLS server name of the edge ("localhost").
	ServerName string
	// CAPEM is the PEM of the CA that signed the edge certificate; RootCAs
	// holds it.
	CAPEM   []byte
	RootCAs *x509.CertPool

	opts   Options
	audit  *auditBuffer
	signer *token.Signer

	mu     sync.Mutex
	srv    *edge.Server
	pc     net.PacketConn
	cancel context.CancelFunc
	done   chan error
}

// Start runs an edge for the test and stops it in tb.Cleanup.
func Start(tb testing.TB, opts Options) *Edge {
	tb.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
		if testing.Verbose() {
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	dir := filepath.Join(tb.TempDir(), "edge")
	path, err := edge.Init(dir, edge.InitOptions{
		Hostnames: opts.Hostnames, Listen: opts.Listen, AdminListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
	})
	if err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e := &Edge{Dir: dir, ConfigPath: path, ServerName: edge.DefaultServerName, opts: opts, audit: &auditBuffer{}}
	if len(opts.Hostnames) > 0 {
		e.ServerName = opts.Hostnames[0]
	}
	if e.CAPEM, err = os.ReadFile(filepath.Join(dir, edge.CACertFile)); err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.RootCAs = x509.NewCertPool()
	e.RootCAs.AppendCertsFromPEM(e.CAPEM)
	cfg, err := edge.UpdateConfig(path, func(c *edge.Config) error {
		c.ShutdownGrace = edge.Duration(opts.ShutdownGrace)
		return nil
	})
	if err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	if e.signer, err = cfg.Signer(); err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.start(tb, cfg)
	// The first start picked the ports; pin them for Restart and for the
	// credentials files written by CreateTunnel.
	cfg, err = edge.UpdateConfig(path, func(c *edge.Config) error {
		c.Listen = e.Addr
		c.AdminListen = strings.TrimPrefix(e.AdminURL, "http://")
		c.PublicAddrs = []string{e.Addr}
		c.HTTPListen = strings.TrimPrefix(e.OAuthURL, "https://")
		c.PublicURL = e.OAuthURL
		return nil
	})
	if err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.reload(tb, cfg)
	tb.Cleanup(func() { e.Stop(tb) })
	return e
}

func (e *Edge) start(tb testing.TB, cfg *edge.Config) {
	tb.Helper()
	// The test owns the UDP socket, so that Kill can pull it from under
	// the server.
	pc, err := net.ListenPacket("udp", cfg.Listen)
	if err != nil {
		tb.Fatalf("edgetest: start the edge: %v", err)
	}
	srv, err := edge.New(cfg, edge.Options{Logger: e.opts.Logger, Audit: e.audit, PacketConn: pc})
	if err != nil {
		pc.Close()
		tb.Fatalf("edgetest: start the edge: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	e.mu.Lock()
	e.srv, e.pc, e.cancel, e.done = srv, pc, cancel, done
	e.Addr = srv.Addr().String()
	e.AdminURL = "http://" + srv.AdminAddr().String()
	e.OAuthURL = "https://" + srv.HTTPAddr().String()
	e.mu.Unlock()
}

// Server returns the running server (a new one after Restart).
func (e *Edge) Server() *edge.Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srv
}

// Stop shuts the edge down (Drain to every connection, then close) and
// waits for it. Stopping a stopped edge does nothing.
func (e *Edge) Stop(tb testing.TB) {
	tb.Helper()
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.cancel, e.done = nil, nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			tb.Errorf("edgetest: edge Run: %v", err)
		}
	case <-time.After(e.opts.ShutdownGrace + 15*time.Second):
		tb.Errorf("edgetest: the edge did not stop")
	}
}

// Kill stops the edge as kill -9 would: its UDP socket closes first, so no
// peer hears a Drain or a connection close, then the server is stopped.
// The peers' connections stay open on their side until they send a packet
// to a restarted edge (Restart), which answers it with a stateless reset,
// or until their idle timeout. Killing a stopped edge does nothing.
func (e *Edge) Kill(tb testing.TB) {
	tb.Helper()
	e.mu.Lock()
	pc, cancel, done := e.pc, e.cancel, e.done
	e.cancel, e.done = nil, nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	pc.Close()
	cancel()
	select {
	case <-done: // an error: its socket went away under it
	case <-time.After(e.opts.ShutdownGrace + 15*time.Second):
		tb.Errorf("edgetest: the killed edge did not stop")
	}
}

// Restart stops the edge (unless Kill did) and starts a new one on the same
// addresses, with the same state: the test of reconnection after an edge
// restart.
func (e *Edge) Restart(tb testing.TB) {
	tb.Helper()
	e.Stop(tb)
	cfg, err := edge.LoadConfig(e.ConfigPath)
	if err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.start(tb, cfg)
}

// Running reports whether the edge is up (not stopped).
func (e *Edge) Running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cancel != nil
}

// Tunnel is a tunnel made by [Edge.CreateTunnel].
type Tunnel struct {
	Name            string
	Credentials     *credentials.Credentials
	CredentialsFile string // 0600 JSON, as airlock-connector reads it
}

// CreateTunnel adds a tunnel serving hostnames, with an app entry for each
// new hostname whose policy allows every email at [DefaultEmailDomain], and
// reloads the running edge.
func (e *Edge) CreateTunnel(tb testing.TB, name string, hostnames ...string) *Tunnel {
	tb.Helper()
	return e.CreateTunnelWith(tb, name, edge.TunnelOptions{
		Hostnames: hostnames,
		Policy:    edge.Policy{Allow: edge.Rule{EmailDomains: []string{DefaultEmailDomain}}},
	})
}

// CreateTunnelWith is CreateTunnel with every option (policy, credentials
// path).
func (e *Edge) CreateTunnelWith(tb testing.TB, name string, opts edge.TunnelOptions) *Tunnel {
	tb.Helper()
	ct, err := edge.CreateTunnel(e.ConfigPath, name, opts)
	if err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.Reload(tb)
	return &Tunnel{Name: name, Credentials: ct.Credentials, CredentialsFile: ct.CredentialsFile}
}

// SetPolicy replaces the policy of an app and reloads the running edge: the
// next stream is checked against it.
func (e *Edge) SetPolicy(tb testing.TB, app string, p edge.Policy) {
	tb.Helper()
	e.UpdateConfig(tb, func(c *edge.Config) error {
		for i := range c.Apps {
			if strings.EqualFold(c.Apps[i].Hostname, app) {
				c.Apps[i].Policy = p
				return nil
			}
		}
		tb.Fatalf("edgetest: no app %s", app)
		return nil
	})
}

// UpdateConfig edits the config file and reloads the running edge.
func (e *Edge) UpdateConfig(tb testing.TB, edit func(*edge.Config) error) {
	tb.Helper()
	cfg, err := edge.UpdateConfig(e.ConfigPath, edit)
	if err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.reload(tb, cfg)
}

// Reload makes the running edge re-read its config file.
func (e *Edge) Reload(tb testing.TB) {
	tb.Helper()
	cfg, err := edge.LoadConfig(e.ConfigPath)
	if err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.reload(tb, cfg)
}

func (e *Edge) reload(tb testing.TB, cfg *edge.Config) {
	tb.Helper()
	if srv := e.Server(); srv != nil && e.Running() {
		if err := srv.Reload(cfg); err != nil {
			tb.Fatalf("edgetest: reload: %v", err)
		}
	}
}

// MintToken returns a service token for email to open app, valid for ttl
// (negative: already expired). The app need not exist, so tests can try
// unknown apps.
func (e *Edge) MintToken(tb testing.TB, app, email string, ttl time.Duration) string {
	tb.Helper()
	c := token.Claims{
		Subject: email, Email: email, Audience: []string{app}, Kind: token.KindService,
		ExpiresAt: time.Now().Add(ttl),
	}
	if ttl < 0 {
		c.IssuedAt, c.NotBefore = c.ExpiresAt.Add(-time.Hour), c.ExpiresAt.Add(-time.Hour)
	}
	tok, err := e.signer.Sign(c)
	if err != nil {
		tb.Fatalf("edgetest: mint: %v", err)
	}
	return tok
}

// Signer is the edge's token signer, to make tokens with any claims.
func (e *Edge) Signer() *token.Signer { return e.signer }

// Keys are the edge's token verification keys (what connectors get).
func (e *Edge) Keys() []wire.PublicKey { return e.Server().Keys() }

// AddUser adds (or updates) a user of the built-in user list, with a
// bcrypt hash of password (at least 8 characters), and reloads the edge.
func (e *Edge) AddUser(tb testing.TB, email, password string, groups ...string) {
	tb.Helper()
	hash, err := oauth.HashPassword(password)
	if err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	if _, err := edge.SetUser(e.ConfigPath, oauth.User{Email: email, PasswordHash: hash, Groups: groups}); err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.Reload(tb)
}

// RemoveUser removes a built-in user and reloads the edge: their next
// stream is refused.
func (e *Edge) RemoveUser(tb testing.TB, email string) {
	tb.Helper()
	if err := edge.RemoveUser(e.ConfigPath, email); err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.Reload(tb)
}

// RevokeUser revokes every sign-in of email so far (as `airlock-edge user
// revoke` does) and reloads the edge.
func (e *Edge) RevokeUser(tb testing.TB, email string) {
	tb.Helper()
	if err := edge.RevokeUser(e.ConfigPath, email, time.Now()); err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.Reload(tb)
}

// HTTPClient returns an HTTP client that trusts the edge's CA, for the
// sign-in server at OAuthURL. It does not follow redirects to loopback
// callbacks on its own: CheckRedirect is left to the caller.
func (e *Edge) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: e.RootCAs, MinVersion: tls.VersionTLS12},
		},
	}
}

// DialClient connects to the edge as a daemon does and closes the
// connection in tb.Cleanup.
func (e *Edge) DialClient(tb testing.TB) *edgeclient.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := edgeclient.Dial(ctx, edgeclient.Config{Addr: e.Addr, ServerName: e.ServerName, RootCAs: e.RootCAs,
		Hello: wire.Hello{Role: wire.RoleClient, Software: "edgetest"}})
	if err != nil {
		tb.Fatalf("edgetest: dial as a client: %v", err)
	}
	tb.Cleanup(func() { c.Close(wire.CodeOK, "") })
	return c
}

// EchoConnector joins tun as a connector whose every stream echoes what
// it receives: the path through the edge without an origin. It stops in
// tb.Cleanup.
func (e *Edge) EchoConnector(tb testing.TB, tun *Tunnel) *edgeclient.Conn {
	tb.Helper()
	return e.echoConnector(tb, tun, "edgetest-echo", nil)
}

// RogueConnector joins tun, with its credentials, as a connector that
// serves every stream as EchoConnector does and sends the test each Dial
// frame it got: all that a connector (or a thief of its credentials file)
// learns of a user's stream. It checks nothing. It stops in tb.Cleanup.
func (e *Edge) RogueConnector(tb testing.TB, tun *Tunnel) <-chan *wire.Dial {
	tb.Helper()
	dials := make(chan *wire.Dial, 16)
	e.echoConnector(tb, tun, "edgetest-rogue", func(d *wire.Dial) {
		select {
		case dials <- d:
		default: // the test took what it wanted
		}
	})
	return dials
}

func (e *Edge) echoConnector(tb testing.TB, tun *Tunnel, id string, onDial func(*wire.Dial)) *edgeclient.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := edgeclient.Dial(ctx, edgeclient.Config{
		Addr: e.Addr, ServerName: tun.Credentials.ServerName, RootCAs: e.RootCAs,
		// It checks no assertion: it stands in for the origin, not for
		// the connector's defences.
		Hello: wire.Hello{Role: wire.RoleConnector, TunnelID: tun.Credentials.TunnelID, Secret: tun.Credentials.Secret, ConnectorID: id, Assertions: true},
	})
	if err != nil {
		tb.Fatalf("edgetest: connect the connector %s: %v", id, err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { c.Close(wire.CodeOK, ""); wg.Wait() })
	wg.Go(func() {
		for {
			s, err := c.AcceptStream(context.Background())
			if err != nil {
				return
			}
			wg.Go(func() {
				defer s.Close()
				d, err := wire.ReadFrameOf[*wire.Dial](s)
				if err != nil {
					return
				}
				if onDial != nil {
					onDial(d)
				}
				if wire.WriteFrame(s, &wire.Result{}) != nil {
					return
				}
				io.Copy(s, s) //nolint:errcheck // the test sees a short echo
				s.CloseWrite()
			})
		}
	})
	return c
}

// Echo opens a stream to app with tok on c, sends msg and returns the
// echo; a refusal is the *edge.Error the edge sent.
func Echo(tb testing.TB, c *edgeclient.Conn, app, tok, msg string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.OpenStream(ctx, &wire.Open{App: app, Token: tok, Target: "echo:1"})
	if err != nil {
		return "", err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck
	if _, err := io.WriteString(s, msg); err != nil {
		return "", err
	}
	s.CloseWrite()
	b, err := io.ReadAll(s)
	return string(b), err
}

// ClientTLS returns a TLS config that dials this edge: its CA, server name
// and the ALPN.
func (e *Edge) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: e.RootCAs, ServerName: e.ServerName, NextProtos: []string{wire.ALPN}, MinVersion: tls.VersionTLS13}
}

// UDPAddr is Addr resolved.
func (e *Edge) UDPAddr() *net.UDPAddr {
	a, _ := net.ResolveUDPAddr("udp", e.Addr)
	return a
}

// Audit returns the audit lines written so far, oldest first.
func (e *Edge) Audit(tb testing.TB) []edge.AuditRecord {
	tb.Helper()
	return e.audit.records(tb)
}

// AuditText returns the raw audit log.
func (e *Edge) AuditText() string { return e.audit.String() }

// WaitAudit waits for an audit line that matches and returns it. Audit
// lines are written when a stream ends.
func (e *Edge) WaitAudit(tb testing.TB, match func(edge.AuditRecord) bool) edge.AuditRecord {
	tb.Helper()
	ctx := testenv.Context(tb)
	for {
		// Take the wake-up before reading, so that a line written in
		// between wakes us rather than being missed.
		changed := e.audit.changed()
		for _, r := range e.audit.records(tb) {
			if match(r) {
				return r
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			tb.Fatalf("edgetest: no matching audit line (%v); the log:\n%s", context.Cause(ctx), e.audit.String())
		}
	}
}

// auditBuffer collects the audit log and signals each write.
type auditBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	wake chan struct{}
}

func (a *auditBuffer) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.wake != nil {
		close(a.wake)
		a.wake = nil
	}
	return a.b.Write(p)
}

func (a *auditBuffer) changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.wake == nil {
		a.wake = make(chan struct{})
	}
	return a.wake
}

func (a *auditBuffer) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.b.String()
}

func (a *auditBuffer) records(tb testing.TB) []edge.AuditRecord {
	tb.Helper()
	var out []edge.AuditRecord
	sc := bufio.NewScanner(strings.NewReader(a.String()))
	for sc.Scan() {
		var r edge.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("edgetest: audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}
