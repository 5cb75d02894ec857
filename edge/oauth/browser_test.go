package oauth_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of Debian's chromium. A missing browser fails
// the test under CI=true and skips it elsewhere.
func chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(tb, "chromium (apt-get install chromium)")
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile. The edge's
// certificate is signed by the edge's own CA, which this throwaway
// profile does not trust, hence ignore-certificate-errors.
func newBrowser(tb testing.TB) context.Context {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(tb)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("ignore-certificate-errors", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	tb.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// TestLoginPageInChromium drives the built-in login page in a real
// headless Chromium: a wrong password is shown on the page, the right
// one lands on the daemon's loopback callback with a code that the
// daemon exchanges for tokens that open the app.
func TestLoginPageInChromium(t *testing.T) {
	f := newFixture(t)
	ctx := newBrowser(t)
	u, state, verifier := f.authURL(app)

	err := chromedp.Do(ctx,
		chromedp.Navigate(u),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), alice),
		chromedp.SendKeys(chromedp.ID("password"), "not the password"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("error")),
	)
	if err != nil {
		t.Fatalf("wrong password round: %v", err)
	}
	errText, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("error")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errText, "Wrong email or password") {
		t.Fatalf("error shown: %q", errText)
	}
	if shot := os.Getenv("AIRLOCK_LOGIN_SCREENSHOT"); shot != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90)); err == nil {
			os.WriteFile(shot, png, 0o644)
		}
	}

	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("password"), alicePW),
		chromedp.Click(chromedp.ID("submit")),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	q := f.cb.wait(t, 30*time.Second)
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	landed, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(landed, f.cb.URL()) {
		t.Fatalf("the browser is at %s, not the loopback callback", landed)
	}
	tok, err := f.exchange(t, q.Get("code"), verifier, app)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.stream(t, app, tok.AccessToken); err != nil {
		t.Fatalf("stream: %v", err)
	}
}
