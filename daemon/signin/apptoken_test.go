package signin

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

const (
	appA, appB = "a.example.com", "b.example.com"
	alice      = "alice@example.com"
	alicePW    = "alice-password-1"
)

// edgeRig is a Manager signed in at a real in-process edge (its OAuth
// server, built-in users and per-stream check) whose tunnel serves appA
// and appB through an echo connector.
type edgeRig struct {
	e       *edgetest.Edge
	m       *Manager
	browser *signintest.FormBrowser
	logs    *logBuffer
	// grants counts the token endpoint's requests by grant_type.
	mu     sync.Mutex
	grants map[string]int
}

type countingTransport struct {
	r    *edgeRig
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/token") && req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(body)
			if f, err := url.ParseQuery(string(b)); err == nil {
				c.r.mu.Lock()
				c.r.grants[f.Get("grant_type")]++
				c.r.mu.Unlock()
			}
		}
	}
	return c.next.RoundTrip(req)
}

func (r *edgeRig) count(grant string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.grants[grant]
}

func newEdgeRig(t *testing.T, refreshAt float64) *edgeRig {
	t.Helper()
	e := edgetest.Start(t, edgetest.Options{})
	e.AddUser(t, alice, alicePW)
	e.EchoConnector(t, e.CreateTunnel(t, "demo", appA, appB))
	cfg := &config.Config{
		Edges:    []config.Edge{{Name: "main", Address: e.Addr, CA: string(e.CAPEM), ServerName: e.ServerName, AuthURL: e.OAuthURL}},
		Clusters: []config.Cluster{{Name: "a", App: appA}, {Name: "b", App: appB}},
		SignIn:   config.SignIn{Wait: 30 * time.Second, BrowserIntervalSet: true},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &edgeRig{e: e, logs: &logBuffer{}, grants: map[string]int{}}
	r.browser = signintest.NewFormBrowser(e.HTTPClient(), alice, alicePW)
	t.Cleanup(r.browser.Wait)
	m, err := New(Options{
		Edge: *cfg.Edge("main"), Apps: cfg.SignInApps("main"), SignIn: cfg.SignIn,
		Store: newMemStore(), Browser: r.browser, RefreshAt: refreshAt,
		Logger: slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HTTPClient: func(ec config.Edge) *http.Client {
			hc := HTTPClient(ec)
			hc.Transport = countingTransport{r: r, next: hc.Transport}
			return hc
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if logs := r.logs.String(); strings.Contains(logs, "eyJ") || strings.Contains(logs, "alr_") {
			t.Errorf("a token appears in the log:\n%s", logs)
		}
	})
	return r
}

// echo opens a stream to app at the edge with tok, as the daemon's SOCKS
// listener does.
func (r *edgeRig) echo(t *testing.T, app, tok string) error {
	t.Helper()
	got, err := edgetest.Echo(t, r.e.DialClient(t), app, tok, "ping")
	if err == nil && got != "ping" {
		t.Fatalf("echo %q", got)
	}
	return err
}

func audience(t *testing.T, tok string) []string {
	t.Helper()
	c, err := peekClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c.Audience
}

const exchangeGrantType = "urn:ietf:params:oauth:grant-type:token-exchange"

// TestAppTokenNarrowed: each app's streams carry a token for that app
// alone, exchanged once per app however many streams ask, and refused by
// the edge on the other app (issue 10, item 1).
func TestAppTokenNarrowed(t *testing.T) {
	r := newEdgeRig(t, 0)
	ctx := ctxT(t)
	const n = 20
	toks := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = r.m.AppToken(ctx, appA) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || toks[i] != toks[0] {
			t.Fatalf("caller %d: %v (same token %v)", i, errs[i], toks[i] == toks[0])
		}
	}
	if got := r.count(exchangeGrantType); got != 1 {
		t.Errorf("%d token exchanges for %d streams to one app, want 1", got, n)
	}
	if got := len(r.browser.Opened()); got != 1 {
		t.Errorf("%d sign-ins, want 1", got)
	}
	tokA := toks[0]
	signIn, err := r.m.Source().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if aud := audience(t, signIn); !slices.Equal(aud, []string{appA, appB}) {
		t.Fatalf("the sign-in token names %v, want both apps", aud)
	}
	if aud := audience(t, tokA); !slices.Equal(aud, []string{appA}) {
		t.Fatalf("app A's token names %v, want %s alone", aud, appA)
	}
	tokB, err := r.m.AppToken(ctx, appB)
	if err != nil {
		t.Fatal(err)
	}
	if aud := audience(t, tokB); !slices.Equal(aud, []string{appB}) {
		t.Fatalf("app B's token names %v", aud)
	}
	if got := r.count(exchangeGrantType); got != 2 {
		t.Errorf("%d token exchanges for two apps, want 2", got)
	}

	t.Run("the edge opens each app with its own token", func(t *testing.T) {
		for _, tc := range []struct{ app, tok string }{{appA, tokA}, {appB, tokB}} {
			if err := r.echo(t, tc.app, tc.tok); err != nil {
				t.Errorf("%s: %v", tc.app, err)
			}
		}
	})
	t.Run("and refuses it for the other app", func(t *testing.T) {
		for _, tc := range []struct{ app, tok string }{{appB, tokA}, {appA, tokB}} {
			err := r.echo(t, tc.app, tc.tok)
			if relay.CodeOf(err) != wire.CodeUnauthenticated {
				t.Errorf("a stream to %s with the other app's token: %v, want unauthenticated", tc.app, err)
			}
		}
	})
	t.Run("from memory, without allocating", func(t *testing.T) {
		if n := testing.AllocsPerRun(100, func() { r.m.AppToken(ctx, appA) }); n != 0 {
			t.Errorf("AppToken with a valid token allocates %.0f times", n)
		}
		if got := r.count(exchangeGrantType); got != 2 {
			t.Errorf("%d token exchanges, want still 2", got)
		}
	})
	t.Run("only the edge's sign-in apps", func(t *testing.T) {
		_, err := r.m.AppToken(ctx, "c.example.com")
		if se := signInErr(t, err); se.Code != apitype.SignInRefused || !strings.Contains(se.Error(), "c.example.com") {
			t.Errorf("%v", err)
		}
		r.m.edge.apps.mu.Lock()
		held := len(r.m.edge.apps.byApp)
		r.m.edge.apps.mu.Unlock()
		if held != 2 {
			t.Errorf("%d app tokens held, want one per sign-in app (2)", held)
		}
	})
}

// TestAppTokenRenewed: when the sign-in token is renewed, each app's token
// is exchanged again in the background; streams never wait for it.
func TestAppTokenRenewed(t *testing.T) {
	r := newEdgeRig(t, 0.002) // renew every ~2 s of the edge's 15 min tokens
	ctx := ctxT(t)
	tok0, err := r.m.AppToken(ctx, appA)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "a renewal and the exchange after it", func() bool {
		return r.count("refresh_token") >= 1 && r.count(exchangeGrantType) >= 2
	})
	testenv.Eventually(t, "the renewed app token in memory", func() bool {
		r.m.edge.apps.mu.Lock()
		defer r.m.edge.apps.mu.Unlock()
		t := r.m.edge.apps.byApp[appA]
		return t != nil && t.raw != tok0
	})
	tok1, err := r.m.AppToken(ctx, appA)
	if err != nil || tok1 == tok0 {
		t.Fatalf("AppToken after the renewal: %v (same token %v)", err, tok1 == tok0)
	}
	if aud := audience(t, tok1); !slices.Equal(aud, []string{appA}) {
		t.Fatalf("the renewed token names %v", aud)
	}
	if err := r.echo(t, appA, tok1); err != nil {
		t.Fatal(err)
	}
	if got := len(r.browser.Opened()); got != 1 {
		t.Errorf("%d sign-ins, want 1", got)
	}
}

// TestAppTokenDropped: a token the edge refuses, a revoked user and a
// sign-out drop the app tokens; the next stream signs in again and gets a
// new one.
func TestAppTokenDropped(t *testing.T) {
	r := newEdgeRig(t, 0)
	ctx := ctxT(t)
	tok0, err := r.m.AppToken(ctx, appA)
	if err != nil {
		t.Fatal(err)
	}
	held := func() int {
		r.m.edge.apps.mu.Lock()
		defer r.m.edge.apps.mu.Unlock()
		return len(r.m.edge.apps.byApp)
	}

	t.Run("revoked at the edge", func(t *testing.T) {
		r.e.RevokeUser(t, alice)
		err := r.echo(t, appA, tok0)
		if relay.CodeOf(err) != wire.CodeUnauthenticated {
			t.Fatalf("a revoked user's app token: %v", err)
		}
		r.m.Invalidate(tok0) // as the SOCKS listener does on unauthenticated
		if n := held(); n != 0 {
			t.Fatalf("%d app tokens held after the edge refused one", n)
		}
		tok1, err := r.m.AppToken(ctx, appA) // refresh refused: the browser signs in again
		if err != nil || tok1 == tok0 {
			t.Fatalf("after the revocation: %v", err)
		}
		if got := len(r.browser.Opened()); got != 2 {
			t.Errorf("%d sign-ins, want 2", got)
		}
		if err := r.echo(t, appA, tok1); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("sign-out", func(t *testing.T) {
		if _, err := r.m.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if n := held(); n != 0 {
			t.Fatalf("%d app tokens held after sign-out", n)
		}
		exchanges := r.count(exchangeGrantType)
		tok2, err := r.m.AppToken(ctx, appA)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(r.browser.Opened()); got != 3 {
			t.Errorf("%d sign-ins, want 3", got)
		}
		if r.count(exchangeGrantType) != exchanges+1 {
			t.Errorf("no new exchange after the sign-out")
		}
		if err := r.echo(t, appA, tok2); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAppTokenPolicy: an app the policy does not allow the user is not in
// the sign-in token; no exchange is tried, the caller learns why.
func TestAppTokenPolicy(t *testing.T) {
	r := newEdgeRig(t, 0)
	r.e.SetPolicy(t, appB, edgePolicyOnly("elsewhere.test"))
	ctx := ctxT(t)
	if _, err := r.m.AppToken(ctx, appA); err != nil {
		t.Fatal(err)
	}
	_, err := r.m.AppToken(ctx, appB)
	if se := signInErr(t, err); se.Code != apitype.SignInRefused || !strings.Contains(se.Error(), appB) {
		t.Fatalf("%v", err)
	}
	if got := r.count(exchangeGrantType); got != 1 {
		t.Errorf("%d exchanges, want 1 (none for the app the sign-in does not cover)", got)
	}
}

// TestAppTokenOldEdge: an edge without token exchange (unsupported_grant_type)
// gets the sign-in token whole, with one warning, and is asked again once
// that token is renewed.
func TestAppTokenOldEdge(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := ctxT(t)
	signIn, err := r.m.Source().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"a.example.com", "b.example.com", "a.example.com"} {
		tok, err := r.m.AppToken(ctx, app)
		if err != nil || tok != signIn {
			t.Fatalf("%s: %v (the sign-in token %v)", app, err, tok == signIn)
		}
	}
	if n := strings.Count(r.logs.String(), "cannot narrow access tokens"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, r.logs.String())
	}
	r.m.edge.apps.mu.Lock()
	whole := r.m.edge.apps.unnarrowed != nil
	r.m.edge.apps.mu.Unlock()
	if !whole {
		t.Error("the unnarrowed sign-in token is not remembered")
	}
}

func edgePolicyOnly(domain string) edge.Policy {
	return edge.Policy{Allow: edge.Rule{EmailDomains: []string{domain}}}
}
