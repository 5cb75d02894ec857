package signin

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/signin/signintest"
	"github.com/airlockhq/airlock/internal/testenv"
)

func pagesIn(tb testing.TB, dir string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pagePattern))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func TestCommandBrowser(t *testing.T) {
	dir := t.TempDir()
	pages := filepath.Join(dir, "airlock") // made by Open
	out := filepath.Join(dir, "arg")
	script := filepath.Join(dir, "browser.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nfor a; do last=$a; done\nprintf '%s' \"$last\" > \""+out+"\"\n"), 0o700)
	fail := filepath.Join(dir, "fail.sh")
	os.WriteFile(fail, []byte("#!/bin/sh\necho no display >&2\nexit 3\n"), 0o700)
	slow := filepath.Join(dir, "slow.sh")
	os.WriteFile(slow, []byte("#!/bin/sh\nexec sleep 30\n"), 0o700)
	ctx := ctxT(t)
	const u = "https://edge.example.com/authorize?state=x&y=1"

	// opened checks what the browser was given: a private page that sends
	// it on to u, never u itself.
	opened := func(t *testing.T) string {
		t.Helper()
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(got), "state=") || strings.Contains(string(got), "edge.example.com") {
			t.Fatalf("the browser's argument %q carries the sign-in URL", got)
		}
		page := signintest.PagePath(t, string(got))
		if filepath.Dir(page) != pages {
			t.Fatalf("page %s is not in %s", page, pages)
		}
		if target := signintest.RedirectTarget(t, page); target != u {
			t.Fatalf("the page sends the browser to %q, want %q", target, u)
		}
		return page
	}

	t.Run("substitutes %s", func(t *testing.T) {
		if err := (Command{Args: []string{script, "--flag", "%s"}, Dir: pages}).Open(ctx, u); err != nil {
			t.Fatal(err)
		}
		opened(t)
	})
	t.Run("appends", func(t *testing.T) {
		os.Remove(out)
		if err := (Command{Args: []string{script, "--new-tab"}, Dir: pages}).Open(ctx, u); err != nil {
			t.Fatal(err)
		}
		opened(t)
	})
	t.Run("page removed when the sign-in ends", func(t *testing.T) {
		os.Remove(out)
		sctx, cancel := context.WithCancel(ctx)
		if err := (Command{Args: []string{script, "%s"}, Dir: pages}).Open(sctx, u); err != nil {
			t.Fatal(err)
		}
		page := opened(t)
		cancel()
		testenv.Eventually(t, "the page removed", func() bool {
			_, err := os.Stat(page)
			return errors.Is(err, fs.ErrNotExist)
		})
	})
	t.Run("page removed after its lifetime", func(t *testing.T) {
		os.Remove(out)
		if err := (Command{Args: []string{script, "%s"}, Dir: pages, PageLifetime: time.Millisecond}).Open(ctx, u); err != nil {
			t.Fatal(err)
		}
		page := signintest.PagePath(t, readString(t, out))
		testenv.Eventually(t, "the page removed", func() bool {
			_, err := os.Stat(page)
			return errors.Is(err, fs.ErrNotExist)
		})
	})
	t.Run("failure names the cause", func(t *testing.T) {
		before := len(pagesIn(t, pages))
		err := (Command{Args: []string{fail}, Dir: pages}).Open(ctx, u)
		if err == nil || !strings.Contains(err.Error(), "no display") {
			t.Fatalf("failing browser: %v", err)
		}
		if n := len(pagesIn(t, pages)); n != before {
			t.Errorf("%d pages after a failed open, want %d (its own removed)", n, before)
		}
	})
	t.Run("missing program", func(t *testing.T) {
		before := len(pagesIn(t, pages))
		if err := (Command{Args: []string{filepath.Join(dir, "nope")}, Dir: pages}).Open(ctx, u); err == nil {
			t.Fatal("a missing browser opened")
		}
		if n := len(pagesIn(t, pages)); n != before {
			t.Errorf("%d pages after a failed start, want %d", n, before)
		}
	})
	t.Run("still running is success", func(t *testing.T) {
		if err := (Command{Args: []string{slow}, Check: 100 * time.Millisecond, Dir: pages}).Open(ctx, u); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("refuses a URL that is not http(s)", func(t *testing.T) {
		os.Remove(out)
		before := len(pagesIn(t, pages))
		for _, bad := range []string{"javascript:alert(1)", "file:///etc/passwd", "https://x/\n<script>"} {
			if err := (Command{Args: []string{script}, Dir: pages}).Open(ctx, bad); err == nil {
				t.Errorf("opened %q", bad)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("the browser was started")
		}
		if n := len(pagesIn(t, pages)); n != before {
			t.Errorf("%d pages, want %d", n, before)
		}
	})
	t.Run("folder is private", func(t *testing.T) {
		st, err := os.Lstat(pages)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want a 0700 folder", pages, st.Mode())
		}
	})
}

func readString(tb testing.TB, p string) string {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestDefaultBrowser(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	args := func(b Browser) string {
		if b == nil {
			return "<none>"
		}
		return strings.Join(b.(Command).Args, " ")
	}
	tests := []struct {
		name, configured, goos string
		env                    map[string]string
		want                   string
	}{
		{"configured wins", "firefox --new-window", "linux", map[string]string{"BROWSER": "sh", "DISPLAY": ":0"}, "firefox --new-window"},
		{"$BROWSER, first found", "", "linux", map[string]string{"BROWSER": "no-such-browser:sh -c"}, "sh -c"},
		{"headless linux", "", "linux", map[string]string{}, "<none>"},
		{"macOS", "", "darwin", map[string]string{}, "open"},
		{"windows", "", "windows", map[string]string{}, "rundll32 url.dll,FileProtocolHandler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := args(DefaultBrowser(tt.configured, env(tt.env), tt.goos)); got != tt.want {
				t.Fatalf("DefaultBrowser = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLogNotifier(t *testing.T) {
	r := newRig(t, rigOptions{})
	LogNotifier{Log: r.m.log}.Notify(context.Background(), Notice{Edge: "main", URL: "https://x/verify", UserCode: "ABCD-EFGH"})
	if l := r.logs.String(); !strings.Contains(l, "ABCD-EFGH") || !strings.Contains(l, "https://x/verify") {
		t.Fatalf("log: %s", l)
	}
}
