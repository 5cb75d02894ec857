package signin

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// Browser opens a URL for the user.
type Browser interface {
	Open(ctx context.Context, url string) error
}

// BrowserFunc adapts a function to Browser.
type BrowserFunc func(ctx context.Context, url string) error

// Open implements Browser.
func (f BrowserFunc) Open(ctx context.Context, url string) error { return f(ctx, url) }

// Command is a browser run as a command: "%s" in Args is replaced by the
// URL, or the URL is appended when no argument has it. The command is not
// waited for beyond a short check that it did not fail at once (a browser
// may run for hours).
type Command struct {
	Args []string
	// Check is how long to watch for an immediate failure; zero means 3 s.
	Check time.Duration
}

// Open implements Browser.
func (c Command) Open(ctx context.Context, url string) error {
	if len(c.Args) == 0 {
		return errors.New("no browser command")
	}
	args := make([]string, 0, len(c.Args)+1)
	subst := false
	for _, a := range c.Args {
		if strings.Contains(a, "%s") {
			a, subst = strings.ReplaceAll(a, "%s", url), true
		}
		args = append(args, a)
	}
	if !subst {
		args = append(args, url)
	}
	// Not CommandContext: the browser outlives the request that opened it.
	cmd := exec.Command(args[0], args[1:]...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &limitedWriter{b: &out, n: 4096}, nil
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start browser %s: %w", args[0], err)
	}
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
			return fmt.Errorf("browser %s failed: %w: %s", args[0], err, strings.TrimSpace(out.String()))
		}
		return nil
	case <-t.C:
		return nil // still running: a browser window
	case <-ctx.Done():
		return nil
	}
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
func DefaultBrowser(configured string, getenv func(string) string, goos string) Browser {
	if f := strings.Fields(configured); len(f) > 0 {
		return Command{Args: f}
	}
	for _, cand := range strings.Split(getenv("BROWSER"), ":") {
		f := strings.Fields(cand)
		if len(f) == 0 {
			continue
		}
		if _, err := exec.LookPath(f[0]); err == nil {
			return Command{Args: f}
		}
	}
	switch goos {
	case "darwin":
		return Command{Args: []string{"open"}}
	case "windows":
		return Command{Args: []string{"rundll32", "url.dll,FileProtocolHandler"}}
	}
	if getenv("DISPLAY") == "" && getenv("WAYLAND_DISPLAY") == "" {
		return nil
	}
	if _, err := exec.LookPath("xdg-open"); err != nil {
		return nil
	}
	return Command{Args: []string{"xdg-open"}}
}
