package signin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/socks"
	"github.com/airlockhq/airlock/daemon/tokens"
	"github.com/airlockhq/airlock/internal/testenv"
)

func TestLazySignInOnce(t *testing.T) {
	r := newRig(t, rigOptions{interval: time.Hour})
	ctx := ctxT(t)
	src := r.m.Source()
	const n = 20
	var wg sync.WaitGroup
	toks := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { toks[i], errs[i] = src.Token(ctx) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if toks[i] != toks[0] {
			t.Fatalf("caller %d got another token", i)
		}
	}
	if got := len(r.browser.opens()); got != 1 {
		t.Fatalf("the browser opened %d times for %d parallel connections, want 1", got, n)
	}
	if ex, _, _ := r.as.stats(); ex != 1 {
		t.Fatalf("%d code exchanges, want 1", ex)
	}
	// One token for every sign-in app of the edge, not the service-token one.
	if aud := r.as.audiences[0]; aud != "a.example.com b.example.com" {
		t.Errorf("audience %q", aud)
	}
	if u := r.browser.opens()[0]; !strings.Contains(u, "code_challenge_method=S256") || !strings.Contains(u, "state=") || !strings.Contains(u, "audience=a.example.com+b.example.com") {
		t.Errorf("authorization URL lacks PKCE, state or audience: %s", u)
	}
	if rt := r.store.refreshToken(t, "main"); rt == "" {
		t.Fatal("no refresh token stored")
	}
	testenv.Eventually(t, "the browser's page", func() bool { return strings.Contains(r.browser.lastPage(), "Signed in") })
	st := r.m.SignIn()
	if st.State != apitype.SignInSignedIn || st.Email != "alice@example.com" || st.Expires.IsZero() || st.URL != "" {
		t.Errorf("status after sign-in: %+v", st)
	}
	// Later calls are answered from memory.
	if tok, err := src.Token(ctx); err != nil || tok != toks[0] {
		t.Fatalf("second Token: %v", err)
	}
	testenv.Eventually(t, "a signed_in event", func() bool {
		s := r.eventStates()
		return len(s) > 0 && s[len(s)-1] == apitype.SignInSignedIn
	})
	if s := r.eventStates(); !contains(s, apitype.SignInNeeded) {
		t.Errorf("events %v lack sign_in_needed", s)
	}
}

func contains[T comparable](list []T, x T) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

func TestTokenFastPathAllocs(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := ctxT(t)
	if _, err := r.source().Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { r.source().Token(ctx) }); n != 0 {
		t.Errorf("Token with a valid token allocates %.0f times", n)
	}
}

func TestRefreshTokenFromStore(t *testing.T) {
	as := newFakeAS(t)
	store := newMemStore()
	ctx := ctxT(t)
	first := newRig(t, rigOptions{as: as, store: store})
	if _, err := first.source().Token(ctx); err != nil {
		t.Fatal(err)
	}
	// A new daemon (new manager, same store) signs in with the stored
	// refresh token: no browser.
	second := newRig(t, rigOptions{as: as, store: store})
	rt := store.refreshToken(t, "main")
	if _, err := second.source().Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(second.browser.opens()); n != 0 {
		t.Fatalf("the browser opened %d times although a refresh token was stored", n)
	}
	if store.refreshToken(t, "main") == rt {
		t.Error("the rotated refresh token was not stored")
	}
}

func TestBackgroundRenewal(t *testing.T) {
	as := newFakeAS(t)
	as.ttl = 3 * time.Second
	r := newRig(t, rigOptions{as: as, refreshAt: 0.3})
	ctx := ctxT(t)
	tok0, err := r.source().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rt0 := r.store.refreshToken(t, "main")
	testenv.Eventually(t, "two background renewals", func() bool { _, n, _ := as.stats(); return n >= 2 })
	// The token in memory changed without a caller waiting, and callers
	// never wait while renewals keep up.
	start := time.Now()
	tok, err := r.source().Token(ctx)
	if err != nil || tok == tok0 {
		t.Fatalf("Token after renewal: same token %v, err %v", tok == tok0, err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Token took %s with renewals running", d)
	}
	if rt := r.store.refreshToken(t, "main"); rt == rt0 || rt == "" {
		t.Error("the rotated refresh token was not stored")
	}
	if n := len(r.browser.opens()); n != 1 {
		t.Errorf("browser opened %d times, want once", n)
	}
}

func TestRevokedRefreshToken(t *testing.T) {
	as := newFakeAS(t)
	as.ttl = 2 * time.Second
	r := newRig(t, rigOptions{as: as, refreshAt: 0.5, interval: time.Hour, wait: 300 * time.Millisecond})
	ctx := ctxT(t)
	if _, err := r.source().Token(ctx); err != nil {
		t.Fatal(err)
	}
	as.revokeAll()
	testenv.Eventually(t, "the renewal to fail as revoked", func() bool {
		st := r.m.SignIn()
		return st.Problem != nil && st.Problem.Code == apitype.SignInRevoked
	})
	if rt := r.store.refreshToken(t, "main"); rt != "" {
		t.Error("the refused refresh token is still stored")
	}
	testenv.Eventually(t, "the access token to expire", func() bool {
		st := r.m.SignIn()
		return st.State == apitype.SignInSignedOut
	})
	// The next connection starts a new sign-in; the first attempt is
	// over, so the browser opens at once although it opened within the
	// interval (the limit is reset when an attempt ends).
	if _, err := r.source().Token(ctx); err != nil {
		t.Fatalf("the sign-in after the revocation: %v", err)
	}
	if n, m := len(r.browser.opens()), len(r.notices.all()); n != 2 || m != 0 {
		t.Fatalf("%d browser opens and %d notices, want 2 and 0", n, m)
	}
}

func TestBrowserRateLimit(t *testing.T) {
	r := newRig(t, rigOptions{wait: 300 * time.Millisecond, interval: time.Hour, flow: 500 * time.Millisecond})
	r.browser.hold = make(chan struct{}) // the user never finishes
	t.Cleanup(func() { close(r.browser.hold) })
	ctx := ctxT(t)
	src := r.source()
	_, err := src.Token(ctx)
	se := signInErr(t, err)
	if se.Code != CodeNeeded || !strings.Contains(se.Error(), "browser") || !errors.Is(err, tokens.ErrUnavailable) {
		t.Fatalf("after the wait: %v (code %s)", err, se.Code)
	}
	st := r.m.SignIn()
	if st.State != apitype.SignInNeeded || !st.BrowserOpened || st.URL == "" {
		t.Fatalf("status while waiting: %+v", st)
	}
	testenv.Eventually(t, "the flow to time out", func() bool {
		st := r.m.SignIn()
		return st.State == apitype.SignInSignedOut && st.Problem != nil && st.Problem.Code == apitype.SignInTimeout
	})
	// The attempt is over, so the limit is reset: the next connection
	// opens the browser again at once (issue 11 item 6), and the
	// connections that join its attempt open no more tabs.
	errs := make(chan error, 5)
	for range 5 {
		go func() { _, err := src.Token(ctx); errs <- err }()
	}
	for range 5 {
		<-errs
	}
	testenv.Eventually(t, "the second attempt to end", func() bool {
		st := r.m.SignIn()
		return st.State == apitype.SignInSignedOut
	})
	if n := len(r.browser.opens()); n < 2 || n > 6 {
		t.Fatalf("the browser opened %d times, want once for the timed-out attempt and once per later attempt", n)
	}
}

func TestWaitExpiresThenCompletes(t *testing.T) {
	r := newRig(t, rigOptions{wait: 200 * time.Millisecond})
	r.browser.hold = make(chan struct{})
	ctx := ctxT(t)
	if _, err := r.source().Token(ctx); signInErr(t, err).Code != CodeNeeded {
		t.Fatalf("want sign-in needed, got %v", err)
	}
	close(r.browser.hold) // the user finishes late
	testenv.Eventually(t, "signed in", func() bool { st := r.m.SignIn(); return st.State == apitype.SignInSignedIn })
	if _, err := r.source().Token(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.browser.opens()); n != 1 {
		t.Errorf("browser opened %d times", n)
	}
}

func TestCallerContextCancel(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.browser.hold = make(chan struct{})
	t.Cleanup(func() { close(r.browser.hold) })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := r.source().Token(ctx); errc <- err }()
	testenv.Eventually(t, "the browser", func() bool { return len(r.browser.opens()) == 1 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, tokens.ErrUnavailable) {
			t.Fatalf("cancelled caller: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled caller is still held")
	}
}

func TestRefused(t *testing.T) {
	as := newFakeAS(t)
	as.deny = "bob@example.com is not allowed to reach app a.example.com (policy: domain example.org)"
	r := newRig(t, rigOptions{as: as})
	_, err := r.source().Token(ctxT(t))
	se := signInErr(t, err)
	if se.Code != apitype.SignInRefused || !strings.Contains(err.Error(), "a.example.com") || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("refused sign-in: %v", err)
	}
	if f := socks.Classify(err); f.Cause != "forbidden" || f.Reply != socks.ReplyNotAllowed || !strings.Contains(f.Message, "a.example.com") {
		t.Errorf("as a SOCKS refusal: %+v, want forbidden / not allowed naming the app", f)
	}
	testenv.Eventually(t, "the refusal page", func() bool { return strings.Contains(r.browser.lastPage(), "not allowed") })
	st := r.m.SignIn()
	if st.Problem == nil || st.Problem.Code != apitype.SignInRefused {
		t.Fatalf("status: %+v", st)
	}
	if !strings.Contains(r.logs.String(), "not allowed") {
		t.Errorf("the log does not say why:\n%s", r.logs)
	}
}

func TestDeviceFlowHeadless(t *testing.T) {
	r := newRig(t, rigOptions{noBrowser: true})
	ctx := ctxT(t)
	done := make(chan error, 1)
	go func() { _, err := r.source().Token(ctx); done <- err }()
	var code string
	testenv.Eventually(t, "the device code notice", func() bool {
		ns := r.notices.all()
		if len(ns) > 0 {
			code = ns[0].UserCode
		}
		return code != ""
	})
	st := r.m.SignIn()
	if st.State != apitype.SignInNeeded || !st.Device || st.UserCode != code || !strings.Contains(st.URL, "/device/verify") {
		t.Fatalf("status: %+v", st)
	}
	if !r.as.approve(code, true) {
		t.Fatal("no such device code at the server")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.store.refreshToken(t, "main") == "" {
		t.Error("no refresh token stored")
	}
}

func TestLoginExplicit(t *testing.T) {
	t.Run("browser", func(t *testing.T) {
		r := newRig(t, rigOptions{interval: time.Hour})
		ctx := ctxT(t)
		if _, err := r.source().Token(ctx); err != nil {
			t.Fatal(err)
		}
		// Signed in already: login signs in again, browser regardless of
		// the interval.
		got, err := r.m.Login(ctx, false)
		if err != nil {
			t.Fatalf("Login: %v %v", got, err)
		}
		testenv.Eventually(t, "the second exchange", func() bool { ex, _, _ := r.as.stats(); return ex == 2 })
		if n := len(r.browser.opens()); n != 2 {
			t.Fatalf("browser opened %d times, want 2", n)
		}
	})
	t.Run("no browser falls back to the device flow", func(t *testing.T) {
		r := newRig(t, rigOptions{})
		r.browser.fail = errors.New("xdg-open: no method available")
		got, err := r.m.Login(ctxT(t), false)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != apitype.SignInNeeded || !got.Device || got.UserCode == "" {
			t.Fatalf("Login answer %+v", got)
		}
		r.as.approve(got.UserCode, true)
		testenv.Eventually(t, "signed in", func() bool { st := r.m.SignIn(); return st.State == apitype.SignInSignedIn })
	})
	t.Run("headless login uses the device flow", func(t *testing.T) {
		r := newRig(t, rigOptions{noBrowser: true})
		got, err := r.m.Login(ctxT(t), false)
		if err != nil || !got.Device || got.UserCode == "" {
			t.Fatalf("Login: %+v %v", got, err)
		}
	})
	t.Run("device asked", func(t *testing.T) {
		r := newRig(t, rigOptions{})
		got, err := r.m.Login(ctxT(t), true)
		if err != nil || !got.Device || got.UserCode == "" {
			t.Fatalf("Login: %+v %v", got, err)
		}
		if n := len(r.browser.opens()); n != 0 {
			t.Errorf("the browser opened for a device login")
		}
	})
	t.Run("waiters follow a replacing login", func(t *testing.T) {
		r := newRig(t, rigOptions{})
		r.browser.hold = make(chan struct{})
		ctx := ctxT(t)
		errc := make(chan error, 1)
		go func() { _, err := r.source().Token(ctx); errc <- err }()
		testenv.Eventually(t, "the first browser", func() bool { return len(r.browser.opens()) == 1 })
		got, err := r.m.Login(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		r.as.approve(got.UserCode, true)
		if err := <-errc; err != nil {
			t.Fatalf("the held caller: %v", err)
		}
		close(r.browser.hold)
	})
}

func TestLogout(t *testing.T) {
	r := newRig(t, rigOptions{interval: time.Hour, wait: 300 * time.Millisecond})
	ctx := ctxT(t)
	if _, err := r.source().Token(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := r.m.Logout(ctx)
	if err != nil || got.State != apitype.SignInSignedOut || got.Email != "" {
		t.Fatalf("Logout: %+v %v", got, err)
	}
	if _, _, revoked := r.as.stats(); revoked != 1 {
		t.Errorf("%d revocations at the edge, want 1", revoked)
	}
	if r.store.refreshToken(t, "main") != "" {
		t.Error("the refresh token is still stored")
	}
	// The next connection needs a new sign-in, and the browser opens for
	// it at once although it opened less than browser_interval (1 h)
	// ago: logout resets the limit.
	if _, err := r.source().Token(ctx); err != nil {
		t.Fatalf("Token after logout: %v", err)
	}
	if n := len(r.browser.opens()); n != 2 {
		t.Fatalf("the browser opened %d times, want 2 (the sign-in after logout opens it again)", n)
	}
	if ex, _, _ := r.as.stats(); ex != 2 {
		t.Fatalf("%d code exchanges, want 2: the sign-in after logout is a new one", ex)
	}
	t.Run("edge unreachable", func(t *testing.T) {
		r := newRig(t, rigOptions{})
		if _, err := r.source().Token(ctx); err != nil {
			t.Fatal(err)
		}
		r.as.srv.Close()
		if _, err := r.m.Logout(ctx); err != nil {
			t.Fatalf("Logout with the edge down: %v", err)
		}
		if r.store.refreshToken(t, "main") != "" {
			t.Error("the refresh token is still stored")
		}
	})
}

func TestInvalidate(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := ctxT(t)
	tok, err := r.source().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.source().Invalidate("some other token")
	if got, _ := r.source().Token(ctx); got != tok {
		t.Fatal("Invalidate of another token dropped ours")
	}
	r.source().Invalidate(tok)
	got, err := r.source().Token(ctx)
	if err != nil || got == tok {
		t.Fatalf("after Invalidate: same=%v err=%v", got == tok, err)
	}
	if _, n, _ := r.as.stats(); n != 1 {
		t.Errorf("%d refreshes, want 1", n)
	}
}

func TestEdgeUnreachable(t *testing.T) {
	as := newFakeAS(t)
	r := newRig(t, rigOptions{as: as})
	as.srv.Close()
	_, err := r.source().Token(ctxT(t))
	if se := signInErr(t, err); se.Code != apitype.SignInUnreachable || !strings.Contains(err.Error(), as.url()) {
		t.Fatalf("edge down: %v", err)
	}
	if n := len(r.browser.opens()); n != 0 {
		t.Errorf("the browser opened although the edge is down")
	}
}

func TestStoreFailure(t *testing.T) {
	store := newMemStore()
	store.fail = errors.New("keychain on fire")
	r := newRig(t, rigOptions{store: store})
	if _, err := r.source().Token(ctxT(t)); err != nil {
		t.Fatalf("a broken store must not stop the sign-in: %v", err)
	}
	st := r.m.SignIn()
	if st.Problem == nil || st.Problem.Code != apitype.SignInStoreFailed {
		t.Fatalf("status: %+v", st)
	}
}

func TestCallbackWrongState(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.browser.hold = make(chan struct{})
	ctx := ctxT(t)
	errc := make(chan error, 1)
	go func() { _, err := r.source().Token(ctx); errc <- err }()
	testenv.Eventually(t, "the browser", func() bool { return len(r.browser.opens()) == 1 })
	// A forged redirect with the wrong state is refused and the sign-in
	// goes on.
	u := r.browser.opens()[0]
	redirect := queryParam(t, u, "redirect_uri")
	resp, err := http.Get(redirect + "?code=forged&state=wrong")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong state answered %s", resp.Status)
	}
	close(r.browser.hold)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
