package stack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// SignIn makes the demo cluster sign in at the edge (its built-in user
// list) instead of presenting a service token.
type SignIn struct {
	// Users are added to the edge's built-in user list.
	Users []User
	// Browser is the daemon's `browser:` command: it gets the sign-in URL
	// (a test's script that hands it to the test).
	Browser string
	// Wait and BrowserInterval are the daemon's sign_in settings; zero
	// means the daemon's defaults (BrowserInterval 0 is not expressible:
	// use time.Nanosecond for "always").
	Wait, BrowserInterval time.Duration
}

// User is a built-in user of the edge.
type User struct {
	Email, Password string
	Groups          []string
}

// AddUser adds (or updates) a built-in user with `airlock-edge user add`;
// the running edge reloads its config on its own.
func (s *Stack) AddUser(ctx context.Context, u User) error {
	args := []string{"user", "add", u.Email, "--password-stdin", "--dir", s.EdgeDir}
	for _, g := range u.Groups {
		args = append(args, "--group", g)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock-edge"), args...)
	cmd.Stdin = strings.NewReader(u.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("airlock-edge user add %s: %w: %s", u.Email, err, out)
	}
	return nil
}

// signInConfig is the daemon config's top-level sign-in part and the
// edge's auth_url line.
func (s *Stack) signInConfig() (top, edge string) {
	si := s.opts.SignIn
	if si == nil {
		return "", ""
	}
	edge = fmt.Sprintf("    auth_url: %q\n", s.AuthURL)
	if si.Browser != "" {
		top += fmt.Sprintf("browser: %q\n", si.Browser)
	}
	if si.Wait > 0 || si.BrowserInterval > 0 {
		top += "sign_in:\n"
		if si.Wait > 0 {
			top += fmt.Sprintf("  wait: %s\n", si.Wait)
		}
		if si.BrowserInterval > 0 {
			top += fmt.Sprintf("  browser_interval: %s\n", si.BrowserInterval)
		}
	}
	return top, edge
}

// BrowserURL rewrites a URL on the edge's public sign-in URL (the daemon's
// sign-in and device URLs name edge.airlock.test, which resolves nowhere)
// to the edge's address, which a browser on this machine can open: the
// edge's certificate names that IP too (its CA is the stack's own, so a
// browser still asks to trust it). Other URLs are returned unchanged.
func (s *Stack) BrowserURL(u string) string {
	if s.PublicURL == "" || !strings.HasPrefix(u, s.PublicURL) {
		return u
	}
	rest := u[len(s.PublicURL):]
	if rest != "" && !strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, "?") {
		return u // another port that starts with the same digits
	}
	return s.AuthURL + rest
}

// SignInClient returns an HTTP client for the edge's sign-in pages as a
// browser on this machine would reach them: it trusts the edge's CA and
// reaches the public URL's name at the edge's address. It follows
// redirects, to the daemon's loopback callback too, and uses no proxy.
func (s *Stack) SignInClient() (*http.Client, error) {
	pemBytes, err := os.ReadFile(filepath.Join(s.EdgeDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("the edge's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("the edge's CA: no certificate in ca.crt")
	}
	public := strings.TrimPrefix(s.PublicURL, "https://")
	actual := strings.TrimPrefix(s.AuthURL, "https://")
	if public == "" || actual == "" {
		return nil, errors.New("the edge has no sign-in server")
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
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
