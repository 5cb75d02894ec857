package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
)

// Config configures a demo. Bin is required; the zero value of every other
// field is a default.
type Config struct {
	// Bin is the folder holding airlock, airlock-edge and
	// airlock-connector (make build).
	Bin string
	// Dir is the folder for the demo's state and logs; "" makes a new
	// temporary folder (kept after the demo, for its logs).
	Dir string
	// Origin is a real cluster's API server (https://host:port or
	// host:port) for the connector to dial instead of a local
	// kube-apiserver.
	Origin string
	// Token makes the demo cluster present a service token (the demo
	// before sign-in) instead of signing in.
	Token bool
	// Browser says who signs in ("" is auto).
	Browser Browser
	// Chromium is the Chromium binary; "" means DefaultChromium.
	Chromium string
	// Kubectl is the kubectl binary; "" means kubectl on $PATH.
	Kubectl string
	// Email is the built-in user; "" means stack.DefaultEmail. Password is
	// theirs; "" means a new random one.
	Email, Password string
	// Out gets the demo's output (default os.Stdout); BuildLog the progress
	// of the first kube-apiserver build (default Out).
	Out, BuildLog io.Writer
	// Getenv and LookPath decide the auto browser; nil means os.Getenv and
	// exec.LookPath.
	Getenv   func(string) string
	LookPath func(string) (string, error)
	// SignInWait is how long the daemon holds a connection while the user
	// signs in; 0 means 10 minutes with a person at the browser (system,
	// none) and the daemon's default (2 minutes) otherwise.
	SignInWait time.Duration
}

func (c Config) withDefaults() Config {
	if c.Chromium == "" {
		c.Chromium = DefaultChromium
	}
	if c.Kubectl == "" {
		c.Kubectl = "kubectl"
	}
	if c.Email == "" {
		c.Email = stack.DefaultEmail
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.BuildLog == nil {
		c.BuildLog = c.Out
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.LookPath == nil {
		c.LookPath = exec.LookPath
	}
	return c
}

// Run runs the demo until ctx ends (Ctrl-C), then stops every program in
// order. It returns an error when the demo cannot start, when a program
// exits on its own, or when a program does not exit 0 when stopped.
func Run(ctx context.Context, cfg Config) (err error) {
	cfg = cfg.withDefaults()
	if cfg.Bin == "" {
		return errors.New("no -bin folder with the airlock programs")
	}
	browser, why := cfg.Browser, ""
	if !cfg.Token {
		e := env{getenv: cfg.Getenv, lookPath: cfg.LookPath, chromium: cfg.Chromium}
		if browser, why, err = e.resolve(cfg.Browser); err != nil {
			return err
		}
		if cfg.Password == "" {
			cfg.Password = newPassword()
		}
	}
	if cfg.Origin == "" {
		if _, err := cfg.LookPath(cfg.Kubectl); err != nil {
			return fmt.Errorf("the demo runs kubectl, which is not installed: %w", err)
		}
	}
	bin, err := filepath.Abs(cfg.Bin)
	if err != nil {
		return err
	}
	for _, p := range []string{"airlock", "airlock-edge", "airlock-connector"} {
		if err := executable(filepath.Join(bin, p)); err != nil {
			return fmt.Errorf("-bin %s: no %s program there (make build): %w", cfg.Bin, p, err)
		}
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "airlock-demo-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "demo.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	pr := &printer{w: cfg.Out}

	opts := stack.Options{Bin: bin, Dir: dir, Log: logf, Timeout: 2 * time.Minute, Email: cfg.Email}
	opts.KubeAPI = kapitest.Options{BuildLog: cfg.BuildLog, Audit: true}
	if cfg.Origin != "" {
		if opts.Origin, err = hostPort(cfg.Origin); err != nil {
			return err
		}
	}
	if !cfg.Token {
		if opts.SignIn, opts.DaemonEnv, err = signInOptions(dir, browser, cfg); err != nil {
			return err
		}
	}
	// With the local kube-apiserver and a sign-in, the person's side is a
	// fresh home that `airlock join` sets up, and the kube-apiserver
	// trusts the edge as its JWT issuer. A real cluster (-origin) does not
	// trust this demo edge, and a service token (-token) signs no one in:
	// both keep the daemon configuration and kubeconfig the demo writes.
	join := opts.Origin == "" && !cfg.Token
	if join {
		if err := joinListenFree(); err != nil {
			return err
		}
		opts.NoDaemon = true
		opts.SignIn.Users[0].Groups = []string{joinGroup}
		opts.KubeAPI.JWTAuthn = true
	}

	pr.f("Airlock demo in %s (every program's log: %s)", dir, logPath)
	if opts.Origin == "" {
		pr.f("starting a kube-apiserver, airlock-edge, airlock-connector and the airlock daemon…")
	} else {
		pr.f("starting airlock-edge, airlock-connector (→ %s) and the airlock daemon…", opts.Origin)
	}
	s, err := stack.Start(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			pr.f("stopped before the demo was up.")
			return nil
		}
		return fmt.Errorf("%w\n(see %s)", err, logPath)
	}
	defer func() {
		if s.KubeAPI != nil {
			pr.f("\nstopping the daemon, the connector, the edge and the kube-apiserver…")
		} else {
			pr.f("\nstopping the daemon, the connector and the edge…")
		}
		if cerr := s.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", cerr))
			return
		}
		pr.f("every program exited cleanly (status 0). The logs stay in %s.", logPath)
	}()
	d := &demo{cfg: cfg, s: s, pr: pr, browser: browser, logPath: logPath, dir: dir, join: join}
	if join {
		link, err := d.setUpJoin(ctx)
		if err != nil {
			return fmt.Errorf("%w\n(see %s)", err, logPath)
		}
		d.home = filepath.Join(dir, "person", "home")
		env := []string{"BROWSER=" + opts.SignIn.Browser}
		if browser == BrowserNone {
			env = opts.DaemonEnv
		}
		if err := s.StartFreshDaemon(ctx, d.home, env); err != nil {
			return fmt.Errorf("%w\n(see %s)", err, logPath)
		}
		d.printSetup(why)
		return d.runJoin(ctx, link)
	}
	d.printSetup(why)
	if cfg.Token {
		return d.runToken(ctx)
	}
	return d.runSignIn(ctx)
}

// signInOptions are the stack's sign-in settings for a browser: the
// built-in user, and the daemon's browser — a hook that only records the
// URLs (the demo follows the daemon's events and plays the browser
// itself), or none at all for the device flow.
func signInOptions(dir string, b Browser, cfg Config) (*stack.SignIn, []string, error) {
	si := &stack.SignIn{
		Users: []stack.User{{Email: cfg.Email, Password: cfg.Password}},
		Wait:  cfg.SignInWait,
	}
	if si.Wait == 0 && (b == BrowserSystem || b == BrowserNone) {
		si.Wait = 10 * time.Minute // a person signs in
	}
	if b == BrowserNone {
		// No browser for the daemon, even on a desktop: the device flow.
		return si, []string{"BROWSER=", "DISPLAY=", "WAYLAND_DISPLAY="}, nil
	}
	hook := filepath.Join(dir, "browser-hook")
	script := "#!/bin/sh\n# The demo daemon's browser: it records the sign-in URL; the demo plays the browser.\nprintf '%s\\n' \"$1\" >> '" +
		filepath.Join(dir, "browser-urls.log") + "'\n"
	if err := os.WriteFile(hook, []byte(script), 0o700); err != nil {
		return nil, nil, err
	}
	si.Browser = hook
	return si, nil, nil
}

// demo is a running demo.
type demo struct {
	cfg     Config
	s       *stack.Stack
	pr      *printer
	browser Browser
	logPath string
	dir     string
	// join: the person's side is home, set up by `airlock join`.
	join bool
	home string
}

// runSignIn runs kubectl while signed out, with the signer playing the
// browser, prints the summary and waits for the end.
func (d *demo) runSignIn(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	defer func() {
		cancel()
		g.Wait() //nolint:errcheck // the signer's error is reported below
	}()
	sg := newSigner(d.s, d.browser, d.cfg.Email, d.cfg.Password, d.cfg.Chromium, d.pr)
	ready := make(chan error, 1)
	signerDone := make(chan error, 1)
	g.Go(func() error {
		err := sg.run(ctx, ready)
		signerDone <- err
		return err
	})
	if err := <-ready; err != nil {
		return err
	}
	d.printUser()
	if d.s.Kubeconfig != "" {
		d.heldKubectl(ctx, sg)
		if ctx.Err() != nil {
			return nil
		}
		d.status(ctx)
		d.printTokens(ctx)
	}
	d.printTry()
	return d.wait(ctx, signerDone)
}

// runToken is the demo with a service token: no sign-in.
func (d *demo) runToken(ctx context.Context) error {
	d.status(ctx)
	if d.s.Kubeconfig != "" {
		d.pr.f("\n$ kubectl --kubeconfig %s get namespaces", d.s.Kubeconfig)
		out, err := d.kubectl(ctx, "get", "namespaces")
		d.pr.block(out)
		if err != nil {
			d.pr.f("kubectl failed: %v", err)
		}
	}
	d.printTry()
	return d.wait(ctx, nil)
}

// wait waits for Ctrl-C; a program that exits before is an error.
func (d *demo) wait(ctx context.Context, signerDone <-chan error) error {
	d.pr.f("\nPress Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		return nil
	case err := <-signerDone:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%w; see %s", err, d.logPath)
	case <-d.s.Edge.Done():
		return fmt.Errorf("the edge exited; see %s", d.logPath)
	case <-d.s.Connector.Done():
		return fmt.Errorf("the connector exited; see %s", d.logPath)
	case <-d.s.Daemon.Done():
		return fmt.Errorf("the daemon exited; see %s", d.logPath)
	}
}

// heldKubectl runs kubectl while signed out and shows that the same
// command completes once the sign-in is done.
func (d *demo) heldKubectl(ctx context.Context, sg *signer) {
	d.pr.f("\nYou are signed out. kubectl runs anyway: the daemon holds its connection, asks for\na sign-in, and lets it through once you are signed in.\n")
	d.pr.f("$ kubectl --kubeconfig %s get namespaces", d.s.Kubeconfig)
	start := time.Now()
	out, err := d.kubectl(ctx, "get", "namespaces")
	took := time.Since(start).Round(100 * time.Millisecond)
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		// The event saying so, and the browser's last step, may trail
		// kubectl by a moment: keep the steps before kubectl's output.
		t := time.NewTimer(5 * time.Second)
		select {
		case <-sg.signedIn:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		sg.waitIdle(ctx, 5*time.Second)
	}
	d.pr.block(out)
	if err != nil {
		d.pr.f("(kubectl failed after %s: %v)", took, err)
		return
	}
	d.pr.f("(kubectl was held %s while the sign-in ran, then completed: the same command, no re-run)", took)
}

// kubectl runs kubectl on the demo kubeconfig and returns its output.
func (d *demo) kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.cfg.Kubectl, append([]string{"--kubeconfig", d.s.Kubeconfig}, args...)...)
	cmd.Env = d.s.Env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// status prints `airlock status`.
func (d *demo) status(ctx context.Context) {
	cmd := exec.CommandContext(ctx, filepath.Join(d.s.Bin, "airlock"), "status", "--socket", d.s.Socket)
	cmd.Env = d.s.Env()
	out, err := cmd.CombinedOutput()
	d.pr.f("\n$ airlock status")
	d.pr.block(string(out))
	if err != nil && ctx.Err() == nil {
		d.pr.f("(airlock status failed: %v)", err)
	}
}

// hostPort accepts https://host:port, host:port or host (port 443).
func hostPort(s string) (string, error) {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("-origin %q: %w", s, err)
		}
		s = u.Host
	}
	if s == "" {
		return "", fmt.Errorf("-origin: no host")
	}
	if !strings.Contains(s, ":") {
		s += ":443"
	}
	return s, nil
}

// newPassword is a random password people can type: three groups of four
// lowercase letters and digits (60 bits).
func newPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789" // no l, o, 0, 1
	var b [12]byte
	rand.Read(b[:])
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}
