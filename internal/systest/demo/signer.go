package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/signin"
	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/internal/inflight"
	"github.com/airlockhq/airlock/internal/systest/stack"
)

// signer follows the daemon's event stream and, each time the daemon asks
// for a sign-in at the demo edge, plays the browser the demo was given:
// it prints each step, so the person sees the whole sign-in.
type signer struct {
	s               *stack.Stack
	browser         Browser
	email, password string
	chromium        string
	pr              *printer

	// signedIn gets a value (without blocking) whenever the edge's
	// sign-in becomes signed_in.
	signedIn chan struct{}

	n int // sign-ins handled, for Chromium profile folders

	// joining is set while `airlock join` runs: the daemon then loads the
	// configuration join wrote, and the edge's sign-in is briefly signed
	// out until the daemon takes up the tokens of the sign-in just done.
	// That sign-out, and the sign-in after it, are not news (restored is
	// set in between; only run's goroutine uses it).
	joining  atomic.Bool
	restored bool

	// active counts the sign-ins the demo is playing the browser for; it
	// changes only under mu, so that news sees it with pending.
	active  inflight.Tracker
	mu      sync.Mutex
	pending string // "signed in" news held until the browser's steps are out
}

func newSigner(s *stack.Stack, b Browser, email, password, chromium string, pr *printer) *signer {
	return &signer{s: s, browser: b, email: email, password: password, chromium: chromium, pr: pr,
		signedIn: make(chan struct{}, 1)}
}

// waitIdle waits up to d for the sign-ins under way to have printed their
// last step.
func (g *signer) waitIdle(ctx context.Context, d time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	_ = g.active.Wait(ctx) // past d, a sign-in still under way prints later
}

// begin and end bracket a sign-in the demo plays the browser for. The last
// end prints the news held meanwhile before the sign-ins count as done.
func (g *signer) begin() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active.Add()
}

func (g *signer) end() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active.Count() == 1 && g.pending != "" {
		g.pr.step("%s", g.pending)
		g.pending = ""
	}
	g.active.Done()
}

// news prints a step now, or once the browser's own steps are out.
func (g *signer) news(msg string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active.Count() > 0 {
		g.pending = msg
		return
	}
	g.pr.step("%s", msg)
}

// run follows the event stream until ctx ends. ready gets nil once the
// stream is open (events from then on are seen), or the error opening it.
// Sign-ins under way run in goroutines it waits for.
func (g *signer) run(ctx context.Context, ready chan<- error) error {
	w, err := g.s.Client().Watch(ctx)
	if err != nil {
		ready <- fmt.Errorf("watch the daemon's events: %w", err)
		return nil
	}
	ready <- nil
	defer w.Close()
	stop := context.AfterFunc(ctx, func() { w.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var last apitype.SignIn
	handled := ""
	for {
		ev, err := w.Next()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("the daemon's event stream ended: %w", err)
		}
		si := edgeSignIn(ev)
		if si == nil {
			continue
		}
		g.report(last, *si)
		if key := si.URL + " " + si.UserCode; si.State == apitype.SignInNeeded && si.URL != "" && key != handled {
			handled = key
			cur := *si
			g.n++
			n := g.n
			g.begin()
			wg.Go(func() {
				defer g.end()
				g.signIn(ctx, cur, n)
			})
		}
		if si.State != apitype.SignInNeeded {
			handled = ""
		}
		last = *si
	}
}

// edgeSignIn picks the demo edge's sign-in out of an event.
func edgeSignIn(ev apitype.Event) *apitype.SignIn {
	switch ev.Type {
	case apitype.EventSignIn:
		if ev.SignIn != nil && ev.SignIn.Edge == stack.EdgeName {
			return ev.SignIn
		}
	case apitype.EventStatus:
		if ev.Status != nil {
			if e := ev.Status.FindEdge(stack.EdgeName); e != nil {
				return e.SignIn
			}
		}
	}
	return nil
}

// report prints what changed between two states of the sign-in.
func (g *signer) report(last, si apitype.SignIn) {
	switch {
	case si.State == apitype.SignInSignedIn && last.State != apitype.SignInSignedIn && g.restored:
		g.restored = false
	case si.State == apitype.SignInSignedOut && last.State == apitype.SignInSignedIn && g.joining.Load():
		g.restored = true
	case si.State == apitype.SignInSignedIn && last.State != apitype.SignInSignedIn:
		g.news(fmt.Sprintf("signed in at edge %s as %s", si.Edge, si.Email))
		select {
		case g.signedIn <- struct{}{}:
		default:
		}
	case si.State == apitype.SignInSignedOut && last.State == apitype.SignInSignedIn:
		g.pr.f("\nSigned out at edge %s: the next kubectl starts a sign-in.", si.Edge)
	}
	if p := si.Problem; p != nil && (last.Problem == nil || *last.Problem != *p) {
		g.pr.step("sign-in problem at edge %s: %s: %s", si.Edge, p.Code, p.Message)
	}
}

// signIn plays the browser for one sign-in the daemon waits for.
func (g *signer) signIn(ctx context.Context, si apitype.SignIn, n int) {
	pr := g.pr
	if si.UserCode != "" {
		pr.step("the daemon holds the connection and asks for a sign-in at edge %s; with no browser, by the device flow", si.Edge)
		pr.f(`
    Open   %s
    code   %s
    sign in as %s with password %s

  (in a browser on this machine: the demo edge listens on loopback only; the
  browser will not know the demo's own certificate authority — accept it)
`, g.s.BrowserURL(si.URL), si.UserCode, g.email, g.password)
		pr.step("waiting for you to sign in…")
		return
	}
	pr.step("the daemon holds the connection and asks for a sign-in at edge %s", si.Edge)
	switch g.browser {
	case BrowserSystem:
		u := g.s.BrowserURL(si.URL)
		pr.step("opening the edge's login page in your browser (xdg-open)…")
		if err := (signin.Command{Args: []string{"xdg-open"}}).Open(ctx, u); err != nil {
			pr.step("could not open your browser: %v", err)
		}
		pr.f(`
    Sign in as %s with password %s
    (if no browser opened, open %s)

  Your browser will warn that it does not know the certificate: the demo
  edge's certificate authority was made just now (%s). Accept it for this demo.
`, g.email, g.password, u, filepath.Join(g.s.EdgeDir, "ca.crt"))
		pr.step("waiting for you to sign in…")
	case BrowserChromium:
		loc, title, err := ChromiumSignIn(ctx, g.chromium, filepath.Join(g.s.Dir, fmt.Sprintf("chromium-%d", n)), g.s, si.URL, g.email, g.password, pr.step)
		g.finished(ctx, loc, title, err)
	case BrowserForm:
		hc, err := g.s.SignInClient()
		if err != nil {
			g.finished(ctx, "", "", err)
			return
		}
		pr.step("fetching the edge's login page over HTTP (no browser here)…")
		page, err := signintest.OpenLogin(ctx, hc, si.URL)
		if err != nil {
			g.finished(ctx, "", "", fmt.Errorf("the login page: %w", err))
			return
		}
		pr.step("signing in as %s…", g.email)
		text, last, err := page.Submit(ctx, g.email, g.password)
		loc := ""
		if last != nil {
			loc = last.String()
		}
		if strings.HasPrefix(text, callbackTitle) {
			text = callbackTitle // the page's heading
		}
		g.finished(ctx, loc, text, err)
	default:
		pr.step("waiting for the sign-in at %s", g.s.BrowserURL(si.URL))
	}
}

// callbackTitle is the heading of the daemon's page after a sign-in.
const callbackTitle = "Signed in"

// finished reports the end of an automatic sign-in: the page it ended on
// (the daemon's loopback callback) or what failed.
func (g *signer) finished(ctx context.Context, loc, title string, err error) {
	switch {
	case ctx.Err() != nil:
	case err != nil:
		g.pr.step("the sign-in failed: %v", err)
	case !strings.HasPrefix(loc, "http://127.0.0.1:") && !strings.HasPrefix(loc, "http://[::1]:"):
		g.pr.step("the browser ended at %s (%q), not at the daemon's loopback callback", loc, short(title))
	default:
		g.pr.step("redirected back to the daemon (%s): %q", strip(loc), short(title))
	}
}

// strip drops a URL's query (the authorization code).
func strip(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// short is the first sentence or so of a page's text.
func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:77] + "…"
	}
	return s
}
