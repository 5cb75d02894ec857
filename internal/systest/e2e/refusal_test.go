package e2e

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/socks"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
)

// httpOrigin serves "hello from origin" on 127.0.0.1:0 until the test ends.
func httpOrigin(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from origin, host %s", r.Host)
	})}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// decoy is a listener that counts the connections it accepts.
func decoy(tb testing.TB) (addr string, accepted *atomic.Int64) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	tb.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), accepted
}

// signer returns a token signer with the edge's own signing key.
func signer(tb testing.TB, s *stack.Stack) *token.Signer {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(s.EdgeDir, "signing-*.pem"))
	if len(files) != 1 {
		tb.Fatalf("want one signing key in %s, found %v", s.EdgeDir, files)
	}
	pemBytes, err := os.ReadFile(files[0])
	if err != nil {
		tb.Fatal(err)
	}
	key, err := token.ParsePrivateKey(pemBytes)
	if err != nil {
		tb.Fatal(err)
	}
	kid := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(files[0]), "signing-"), ".pem")
	sg, err := token.NewSigner(kid, key, "airlock-edge")
	if err != nil {
		tb.Fatal(err)
	}
	return sg
}

func TestCurlThroughSOCKS5Hostname(t *testing.T) {
	testenv.LookPath(t, "curl", "apt-get install curl")
	origin := httpOrigin(t)
	s := startStack(t, stack.Options{Origin: origin})
	decoyAddr, accepted := decoy(t)

	for _, tc := range []struct{ name, url string }{
		{"unresolvable name", "http://origin.invalid:8080/hello"},
		// A client asking for another target still reaches only the
		// origin of the connector's rule.
		{"another target", "http://" + decoyAddr + "/steal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command("curl", "-sS", "--max-time", "20",
				"--socks5-hostname", s.User+":"+s.Pass+"@"+s.SOCKSAddr, tc.url).CombinedOutput()
			if err != nil {
				t.Fatalf("curl: %v: %s", err, out)
			}
			if !strings.HasPrefix(string(out), "hello from origin") {
				t.Fatalf("curl got %q, want the origin's answer", out)
			}
		})
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the decoy target accepted %d connections; the connector must dial only its rule's origin", n)
	}

	t.Run("wrong password", func(t *testing.T) {
		_, _, err := socksConnect(context.Background(), s.SOCKSAddr, s.User, "wrong", "x.invalid:80")
		if err == nil || !strings.Contains(err.Error(), "refused the username and password") {
			t.Fatalf("err = %v, want the credentials refused", err)
		}
	})
}

// TestRefusals presents bad tokens, a user outside the policy and an
// unknown app, and checks the SOCKS5 reply code kubectl or curl would see
// and that the daemon's log names the cause.
func TestRefusals(t *testing.T) {
	origin := httpOrigin(t)
	sOpts := stack.Options{Origin: origin}
	sOpts.ExtraClusters = []stack.Cluster{{Name: "nowhere", App: "nowhere.airlock.test", Token: "placeholder"}}
	s := startStack(t, sOpts)
	sg := signer(t, s)
	ctx := context.Background()

	good := s.Token
	outsider, err := s.MintToken(ctx, s.App, "mallory@evil.test", "1h")
	if err != nil {
		t.Fatal(err)
	}
	otherKey := ed25519.NewKeyFromSeed(make([]byte, 32))
	forger, err := token.NewSigner(sg.PublicKey().ID, otherKey, "airlock-edge")
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mod func(*token.Claims)) token.Claims {
		c := token.Claims{Subject: s.Email, Email: s.Email, Audience: []string{s.App}, ExpiresAt: time.Now().Add(time.Hour), Kind: token.KindService}
		mod(&c)
		return c
	}
	mustSign := func(sg *token.Signer, c token.Claims) string {
		tok, err := sg.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	forged := mustSign(forger, claims(func(*token.Claims) {}))
	expired := mustSign(sg, claims(func(c *token.Claims) {
		c.IssuedAt, c.NotBefore, c.ExpiresAt = time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
	}))
	wrongAud := mustSign(sg, claims(func(c *token.Claims) { c.Audience = []string{"other.airlock.test"} }))
	algNone := unsignedToken(t, good)

	tests := []struct {
		name    string
		cluster string
		token   string
		reply   byte
		logs    string // the daemon's log must name this
	}{
		{"forged signature", stack.DefaultCluster, forged, socks.ReplyNotAllowed, "unauthenticated"},
		{"expired", stack.DefaultCluster, expired, socks.ReplyNotAllowed, "expired"},
		{"wrong audience", stack.DefaultCluster, wrongAud, socks.ReplyNotAllowed, "audience"},
		{"alg none", stack.DefaultCluster, algNone, socks.ReplyNotAllowed, "unauthenticated"},
		{"garbage", stack.DefaultCluster, "not-a-jwt", socks.ReplyNotAllowed, "unauthenticated"},
		{"user outside the policy", stack.DefaultCluster, outsider, socks.ReplyNotAllowed, "mallory@evil.test"},
		{"unknown app", "nowhere", good, socks.ReplyHostUnreachable, "nowhere.airlock.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetToken(tc.cluster, tc.token); err != nil {
				t.Fatal(err)
			}
			u, err := s.ClusterProxy(ctx, tc.cluster)
			if err != nil {
				t.Fatal(err)
			}
			pass, _ := u.User.Password()
			before := len(s.Daemon.Output())
			rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			reply, c, err := socksConnect(rctx, u.Host, u.User.Username(), pass, "kubernetes.default.svc:443")
			if err != nil {
				t.Fatal(err)
			}
			if c != nil {
				c.Close()
				t.Fatalf("the proxy accepted the connection; want reply %#x", tc.reply)
			}
			if reply != tc.reply {
				t.Fatalf("SOCKS reply = %#x, want %#x", reply, tc.reply)
			}
			testenv.Eventually(t, "the daemon's log to name the cause", func() error {
				if logs := s.Daemon.Output()[before:]; !strings.Contains(logs, tc.logs) {
					return fmt.Errorf("log since the request lacks %q:\n%s", tc.logs, logs)
				}
				return nil
			})
		})
	}

	t.Run("good token again", func(t *testing.T) {
		if err := s.SetToken(stack.DefaultCluster, good); err != nil {
			t.Fatal(err)
		}
		get(t, s, "http://kubernetes.default.svc/")
	})

	// Revocations made with the airlock-edge command line while the edge
	// runs: the edge follows its config file and refuses the revoked
	// service token on its next stream; the user's other tokens keep
	// working. Before, service tokens outlived user revoke.
	for _, tc := range []struct {
		name, email string
		revoke      func(id, email string) []string
	}{
		{"revoked service token", s.Email, func(id, _ string) []string { return []string{"token", "revoke", id} }},
		{"revoked user's service token", "ci@" + s.Email[strings.LastIndexByte(s.Email, '@')+1:], func(_, email string) []string { return []string{"user", "revoke", email} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := s.MintToken(ctx, s.App, tc.email, "1h")
			if err != nil {
				t.Fatal(err)
			}
			id := tokenID(t, tok)
			if err := s.SetToken(stack.DefaultCluster, tok); err != nil {
				t.Fatal(err)
			}
			get(t, s, "http://kubernetes.default.svc/")
			before := len(s.Daemon.Output())
			if _, err := s.EdgeCLI(ctx, tc.revoke(id, tc.email)...); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, "the revoked token refused", func() error {
				rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				reply, c, err := socksConnect(rctx, s.SOCKSAddr, s.User, s.Pass, "kubernetes.default.svc:443")
				if err != nil {
					return err
				}
				if c != nil {
					c.Close()
					return errors.New("the proxy still accepts the revoked token")
				}
				if reply != socks.ReplyNotAllowed {
					return testenv.Stop(fmt.Errorf("SOCKS reply = %#x, want %#x", reply, socks.ReplyNotAllowed))
				}
				return nil
			})
			testenv.Eventually(t, "the daemon's log to name the revocation", func() error {
				if logs := s.Daemon.Output()[before:]; !strings.Contains(logs, "revoked") {
					return fmt.Errorf("log since the revocation lacks %q:\n%s", "revoked", logs)
				}
				return nil
			})
			if err := s.SetToken(stack.DefaultCluster, good); err != nil {
				t.Fatal(err)
			}
			get(t, s, "http://kubernetes.default.svc/")
		})
	}
}

// tokenID returns the "jti" of tok (not verified).
func tokenID(tb testing.TB, tok string) string {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var c struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.ID == "" {
		tb.Fatalf("token payload %s: %v", payload, err)
	}
	return c.ID
}

// unsignedToken re-encodes tok's claims under {"alg":"none"} with an empty
// signature.
func unsignedToken(tb testing.TB, tok string) string {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d parts", len(parts))
	}
	hdr, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	return base64.RawURLEncoding.EncodeToString(hdr) + "." + parts[1] + "."
}

// get fetches url through the stack's demo cluster and checks that the
// origin answered.
func get(tb testing.TB, s *stack.Stack, url string) {
	tb.Helper()
	if err := tryGet(s, url); err != nil {
		tb.Fatal(err)
	}
}

// proxyTransport is an HTTP transport whose every connection is a CONNECT
// through the stack's SOCKS proxy, one request per connection.
func proxyTransport(s *stack.Stack) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			reply, c, err := socksConnect(ctx, s.SOCKSAddr, s.User, s.Pass, addr)
			if err == nil && c == nil {
				err = fmt.Errorf("SOCKS reply %#x", reply)
			}
			return c, err
		},
		DisableKeepAlives: true,
	}
}

func tryGet(s *stack.Stack, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := proxyTransport(s)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(body), "hello from origin") {
		return fmt.Errorf("got %q, want the origin's answer", body)
	}
	return nil
}
