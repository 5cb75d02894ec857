package signin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/safesocket"
	"github.com/airlockhq/airlock/internal/atomicfile"
)

// Browser opens a URL for the user.
type Browser interface {
	Open(ctx context.Context, url string) error
}

// BrowserFunc adapts a function to Browser.
type BrowserFunc func(ctx context.Context, url string) error

// Open implements Browser.
func (f BrowserFunc) Open(ctx context.Context, url string) error { return f(ctx, url) }

// Command is a browser run as a command. The sign-in URL never appears in
// the command's arguments, where every local user can read it
// (/proc/PID/cmdline, ps): it carries the OAuth state, the PKCE challenge
// and the callback port, enough for another user to deliver their own
// sign-in to this daemon. Open writes a page that redirects to the URL
// into a private file (0600, in the 0700 folder Dir) and gives the command
// that file's file:// URL: "%s" in Args is replaced by it, or it is
// appended when no argument has "%s". xdg-open, open (macOS), rundll32
// url.dll,FileProtocolHandler (Windows) and browsers themselves open it in
// the default browser, which follows the redirect. The file is removed when
// Open's context ends (the sign-in is over) or after PageLifetime.
//
// The command is not waited for beyond a short check that it did not fail
// at once (a browser may run for hours).
type Command struct {
	Args []string
	// Check is how long to watch for an immediate failure; zero means 3 s.
	Check time.Duration
	// Dir is the private folder for the redirect page; empty means
	// RedirectDir(os.Getenv, runtime.GOOS).
	Dir string
	// PageLifetime bounds how long the redirect page stays when Open's
	// context goes on; zero means DefaultPageLifetime.
	PageLifetime time.Duration
}

// DefaultPageLifetime is how long a redirect page stays at most: a
// browser that starts cold reads it within seconds.
const DefaultPageLifetime = 2 * time.Minute

// pagePattern names the redirect pages in their folder.
const pagePattern = "signin-*.html"

// RedirectDir is the folder of the sign-in redirect pages: the daemon's
// per-user runtime folder ($XDG_RUNTIME_DIR/airlock, else /tmp/airlock-UID;
// see daemon/safesocket), or on Windows an airlock folder in the user's
// temporary folder.
func RedirectDir(getenv func(string) string, goos string) string {
	if goos == "windows" {
		return filepath.Join(os.TempDir(), "airlock")
	}
	return safesocket.Dir(getenv)
}

// Open implements Browser.
func (c Command) Open(ctx context.Context, url string) error {
	if len(c.Args) == 0 {
		return errors.New("no browser command")
	}
	dir := c.Dir
	if dir == "" {
		dir = RedirectDir(os.Getenv, runtime.GOOS)
	}
	lifetime := c.PageLifetime
	if lifetime <= 0 {
		lifetime = DefaultPageLifetime
	}
	page, err := writeRedirect(dir, url, lifetime)
	if err != nil {
		return fmt.Errorf("write the sign-in page: %w", err)
	}
	var once sync.Once
	remove := func() { once.Do(func() { os.Remove(page) }) }
	args := make([]string, 0, len(c.Args)+1)
	subst := false
	target := fileURL(page)
	for _, a := range c.Args {
		if strings.Contains(a, "%s") {
			a, subst = strings.ReplaceAll(a, "%s", target), true
		}
		args = append(args, a)
	}
	if !subst {
		args = append(args, target)
	}
	// Not CommandContext: the browser outlives the request that opened it.
	cmd := exec.Command(args[0], args[1:]...)
	var out strings.Builder
	w := &limitedWriter{b: &out, n: 4096}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		remove()
		return fmt.Errorf("start browser %s: %w", args[0], err)
	}
	// The page goes when the sign-in ends, or after its lifetime: each
	// of these runs remove once, briefly, and ends.
	context.AfterFunc(ctx, remove)
	time.AfterFunc(lifetime, remove)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // reaps the process whenever it ends
	check := c.Check
	if check <= 0 {
		check = 3 * time.Second
	}
	t := time.NewTimer(check)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			remove()
			return fmt.Errorf("browser %s failed: %w: %s", args[0], err, strings.TrimSpace(out.String()))
		}
		return nil
	case <-t.C:
		return nil // still running: a browser window
	case <-ctx.Done():
		return nil
	}
}

// writeRedirect writes a page that sends the browser on to target into a
// new private file in dir (made 0700 if need be) and returns its path. It
// also removes pages older than lifetime (at least DefaultPageLifetime),
// which a daemon that stopped abruptly left behind.
func writeRedirect(dir, target string, lifetime time.Duration) (string, error) {
	u, err := neturl.Parse(target)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("the sign-in URL is not an http(s) URL") // the URL itself is secret
	}
	if strings.ContainsFunc(target, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", errors.New("the sign-in URL holds control characters")
	}
	if err := safesocket.EnsureDir(dir); err != nil {
		return "", err
	}
	if old, err := filepath.Glob(filepath.Join(dir, pagePattern)); err == nil {
		for _, p := range old {
			if st, err := os.Lstat(p); err == nil && time.Since(st.ModTime()) > max(lifetime, DefaultPageLifetime) {
				os.Remove(p)
			}
		}
	}
	page := filepath.Join(dir, strings.Replace(pagePattern, "*", randomString()[:22], 1))
	if err := atomicfile.Write(page, redirectPage(target), 0o600); err != nil {
		return "", err
	}
	return page, nil
}

// redirectPage is an HTML page that replaces itself with target at once:
// a meta refresh, and location.replace for browsers that ignore refresh
// on local files; the link is for a browser that runs neither.
func redirectPage(target string) []byte {
	js, _ := json.Marshal(target) // escapes <, > and & too: safe inside <script>
	attr := html.EscapeString(target)
	return fmt.Appendf(nil, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url=%s">
<title>Airlock sign-in</title>
<script>window.location.replace(%s);</script>
</head>
<body>
<p>Opening the sign-in page&hellip; <a href="%s">Continue to sign in</a>.</p>
</body>
</html>
`, attr, js, attr)
}

// fileURL is the file:// URL of an absolute path, on Windows too.
func fileURL(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/… on Windows
	}
	return (&neturl.URL{Scheme: "file", Path: p}).String()
}

type limitedWriter struct {
	b *strings.Builder
	n int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if rest := w.n - w.b.Len(); rest > 0 {
		if len(p) > rest {
			w.b.Write(p[:rest])
		} else {
			w.b.Write(p)
		}
	}
	return len(p), nil
}

// DefaultBrowser returns the browser to open sign-in URLs with: the
// configured command (config `browser:`), else $BROWSER (a colon-separated
// list; the first found on PATH), else the platform's opener (xdg-open where
// a display exists, open on macOS, rundll32 on Windows). It returns nil when
// none can be used — a headless machine, where sign-in uses the device flow.
// Each is a [Command]: it is handed a private redirect page in
// RedirectDir(getenv, goos), never the URL.
func DefaultBrowser(configured string, getenv func(string) string, goos string) Browser {
	dir := RedirectDir(getenv, goos)
	if f := strings.Fields(configured); len(f) > 0 {
		return Command{Args: f, Dir: dir}
	}
	for _, cand := range strings.Split(getenv("BROWSER"), ":") {
		f := strings.Fields(cand)
		if len(f) == 0 {
			continue
		}
		if _, err := exec.LookPath(f[0]); err == nil {
			return Command{Args: f, Dir: dir}
		}
	}
	switch goos {
	case "darwin":
		return Command{Args: []string{"open"}, Dir: dir}
	case "windows":
		return Command{Args: []string{"rundll32", "url.dll,FileProtocolHandler"}, Dir: dir}
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return nil
	}
	if _, err := exec.LookPath("xdg-open"); err != nil {
		return nil
	}
	return Command{Args: []string{"xdg-open"}, Dir: dir}
}
