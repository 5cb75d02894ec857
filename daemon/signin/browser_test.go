package signin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCommandBrowser(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "url")
	script := filepath.Join(dir, "browser.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s' \"$2\" > \""+out+"\"\n"), 0o700)
	fail := filepath.Join(dir, "fail.sh")
	os.WriteFile(fail, []byte("#!/bin/sh\necho no display >&2\nexit 3\n"), 0o700)
	slow := filepath.Join(dir, "slow.sh")
	os.WriteFile(slow, []byte("#!/bin/sh\nexec sleep 30\n"), 0o700)
	ctx := ctxT(t)
	const u = "https://edge.example.com/authorize?state=x&y=1"

	t.Run("substitutes %s", func(t *testing.T) {
		if err := (Command{Args: []string{script, "--flag", "%s"}}).Open(ctx, u); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(out); string(got) != u {
			t.Fatalf("browser got %q", got)
		}
	})
	t.Run("appends", func(t *testing.T) {
		os.Remove(out)
		if err := (Command{Args: []string{script, "--new-tab"}}).Open(ctx, u); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(out); string(got) != u {
			t.Fatalf("browser got %q", got)
		}
	})
	t.Run("failure names the cause", func(t *testing.T) {
		err := (Command{Args: []string{fail}}).Open(ctx, u)
		if err == nil || !strings.Contains(err.Error(), "no display") {
			t.Fatalf("failing browser: %v", err)
		}
	})
	t.Run("missing program", func(t *testing.T) {
		if err := (Command{Args: []string{filepath.Join(dir, "nope")}}).Open(ctx, u); err == nil {
			t.Fatal("a missing browser opened")
		}
	})
	t.Run("still running is success", func(t *testing.T) {
		start := time.Now()
		if err := (Command{Args: []string{slow}, Check: 100 * time.Millisecond}).Open(ctx, u); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("Open waited for the browser to exit")
		}
	})
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
