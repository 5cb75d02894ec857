package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/wire"
)

const (
	app      = "k8s.demo.test"
	otherApp = "k8s.other.test"
	alice    = "alice@example.com"
	alicePW  = "correct horse battery"
)

// fixture is a real edge (edgetest) with two apps behind echo connectors,
// the built-in user alice, a daemon connection and a loopback callback
// server playing the daemon's redirect URI.
type fixture struct {
	e    *edgetest.Edge
	conn *edgeclient.Conn
	cb   *callback
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	e := edgetest.Start(tb, edgetest.Options{})
	tun := e.CreateTunnel(tb, "demo", app)
	other := e.CreateTunnel(tb, "other", otherApp)
	e.AddUser(tb, alice, alicePW, "sre")
	e.EchoConnector(tb, tun)
	e.EchoConnector(tb, other)
	return &fixture{e: e, conn: e.DialClient(tb), cb: newCallback(tb)}
}

// callback is the daemon's loopback redirect URI: it records every query.
type callback struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []url.Values
	wake chan struct{}
}

func newCallback(tb testing.TB) *callback {
	c := &callback{wake: make(chan struct{}, 16)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.got = append(c.got, r.URL.Query())
		c.mu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
		io.WriteString(w, "signed in; back to the terminal")
	}))
	tb.Cleanup(c.srv.Close)
	return c
}

// URL is http://127.0.0.1:PORT/callback.
func (c *callback) URL() string { return c.srv.URL + "/callback" }

// wait returns the next query the callback receives.
func (c *callback) wait(tb testing.TB, timeout time.Duration) url.Values {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		if len(c.got) > 0 {
			q := c.got[0]
			c.got = c.got[1:]
			c.mu.Unlock()
			return q
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-deadline:
			tb.Fatalf("the callback got nothing within %s", timeout)
		}
	}
}

// config is the daemon's golang.org/x/oauth2 configuration.
func (f *fixture) config() *oauth2.Config {
	return &oauth2.Config{
		ClientID: "airlock",
		Endpoint: oauth2.Endpoint{
			AuthURL: f.e.OAuthURL + "/oauth/authorize", TokenURL: f.e.OAuthURL + "/oauth/token",
			DeviceAuthURL: f.e.OAuthURL + "/oauth/device/code", AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: f.cb.URL(),
	}
}

// ctx carries the HTTP client that trusts the edge, for oauth2 calls.
func (f *fixture) ctx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return context.WithValue(ctx, oauth2.HTTPClient, f.e.HTTPClient())
}

// browser is an HTTP client with cookies that follows redirects, also to
// the loopback callback.
func (f *fixture) browser(tb testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := f.e.HTTPClient()
	c.Jar = jar
	return c
}

// authURL is a fresh authorization request for app; it returns the URL,
// the state and the PKCE verifier.
func (f *fixture) authURL(apps ...string) (string, string, string) {
	state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	var opts []oauth2.AuthCodeOption
	opts = append(opts, oauth2.S256ChallengeOption(verifier))
	for _, a := range apps {
		opts = append(opts, oauth2.SetAuthURLParam("audience", a))
	}
	return f.config().AuthCodeURL(state, opts...), state, verifier
}

var (
	reqField  = regexp.MustCompile(`name="req" value="([^"]+)"`)
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// loginForm GETs u (following redirects) and returns the login page's
// hidden fields.
func loginForm(tb testing.TB, b *http.Client, u string) (req, csrf string) {
	tb.Helper()
	res, err := b.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s\n%s", u, res.Status, body)
	}
	m1, m2 := reqField.FindSubmatch(body), csrfField.FindSubmatch(body)
	if m1 == nil || m2 == nil {
		tb.Fatalf("no login form at %s:\n%s", u, body)
	}
	return string(m1[1]), string(m2[1])
}

// postLogin submits the login form and returns the final response's
// status and body.
func postLogin(tb testing.TB, b *http.Client, base, req, csrf, email, pw string) (int, string) {
	tb.Helper()
	return postLoginAction(tb, b, base, req, csrf, email, pw, "login")
}

// postLoginAction submits the login form with the button action
// ("login", or "deny" on a device's page).
func postLoginAction(tb testing.TB, b *http.Client, base, req, csrf, email, pw, action string) (int, string) {
	tb.Helper()
	res, err := b.PostForm(base+"/oauth/login", url.Values{"req": {req}, "csrf": {csrf}, "email": {email}, "password": {pw}, "action": {action}})
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// signIn runs the whole browser flow for email and returns the tokens.
func (f *fixture) signIn(tb testing.TB, email, pw string, apps ...string) *oauth2.Token {
	tb.Helper()
	code, verifier := f.code(tb, email, pw, apps...)
	tok, err := f.exchange(tb, code, verifier, apps...)
	if err != nil {
		tb.Fatalf("exchange: %v", err)
	}
	return tok
}

// code runs the browser part and returns the code and the verifier.
func (f *fixture) code(tb testing.TB, email, pw string, apps ...string) (string, string) {
	tb.Helper()
	u, state, verifier := f.authURL(apps...)
	b := f.browser(tb)
	req, csrf := loginForm(tb, b, u)
	if st, body := postLogin(tb, b, f.e.OAuthURL, req, csrf, email, pw); st != http.StatusOK {
		tb.Fatalf("login: %d\n%s", st, body)
	}
	q := f.cb.wait(tb, 10*time.Second)
	if q.Get("state") != state {
		tb.Fatalf("callback state %q, sent %q", q.Get("state"), state)
	}
	if q.Get("code") == "" {
		tb.Fatalf("callback without a code: %v", q)
	}
	return q.Get("code"), verifier
}

func (f *fixture) exchange(tb testing.TB, code, verifier string, apps ...string) (*oauth2.Token, error) {
	opts := []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}
	for _, a := range apps {
		opts = append(opts, oauth2.SetAuthURLParam("audience", a))
	}
	return f.config().Exchange(f.ctx(tb), code, opts...)
}

// refresh uses a refresh token once.
func (f *fixture) refresh(tb testing.TB, rt string) (*oauth2.Token, error) {
	return f.config().TokenSource(f.ctx(tb), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// stream opens a stream to a with tok: nil when the echo came back.
func (f *fixture) stream(tb testing.TB, a, tok string) error {
	tb.Helper()
	got, err := edgetest.Echo(tb, f.conn, a, tok, "ping")
	if err == nil && got != "ping" {
		return fmt.Errorf("echo %q", got)
	}
	return err
}

// wantRefused checks a stream refusal's code and message.
func wantRefused(tb testing.TB, err error, code wire.Code, msg string) {
	tb.Helper()
	var ee *wire.Error
	if !errors.As(err, &ee) {
		tb.Fatalf("got %v, want refusal %s naming %q", err, code, msg)
	}
	if ee.Code != code || !strings.Contains(ee.Message, msg) {
		tb.Fatalf("refusal %s %q, want %s naming %q", ee.Code, ee.Message, code, msg)
	}
}

// oauthError is the error body of the token endpoint.
func oauthError(tb testing.TB, err error) (string, string) {
	tb.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		tb.Fatalf("got %v, want an OAuth error response", err)
	}
	return re.ErrorCode, re.ErrorDescription
}

// postForm POSTs a form to the edge and decodes the JSON answer.
func (f *fixture) postForm(tb testing.TB, path string, v url.Values) (int, map[string]any) {
	tb.Helper()
	res, err := f.e.HTTPClient().PostForm(f.e.OAuthURL+path, v)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(res.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			tb.Fatalf("%s: %s is not JSON: %v", path, b, err)
		}
	}
	return res.StatusCode, m
}

// noRedirect is a client that stops at the first answer.
func (f *fixture) noRedirect() *http.Client {
	c := f.e.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}
