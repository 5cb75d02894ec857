package app_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/daemontest"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/joinlink"
	"github.com/airlockhq/airlock/tray/app"
)

// TestLinkArgument: `airlock airlock://join?…` takes only a strict
// invitation (refused with the cause, exit 2, before any daemon is asked);
// a good one goes to the daemon's join, with the CA it pins: a link whose
// fingerprint is not the edge's CA fails there, naming the mismatch.
func TestLinkArgument(t *testing.T) {
	run := func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		var out bytes.Buffer
		code := app.Command(context.Background(), args, app.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
		return code, out.String()
	}
	for _, tc := range []struct{ name, link, why string }{
		{"http edge", "airlock://join?edge=http://edge.example.com", "not https://"},
		{"other parameter", "airlock://join?edge=https://edge.example.com&token=x", "unknown parameter"},
		{"bad fingerprint", "airlock://join?edge=https://edge.example.com&ca=md5:00", "fingerprint"},
		{"other action", "airlock://leave?edge=https://edge.example.com", "does not start with airlock://join?"},
		{"too long", "airlock://join?edge=https://e.test&x=" + strings.Repeat("a", 3000), "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := run(t, "--no-start", "--socket", "/nonexistent/airlock.sock", tc.link)
			if code != 2 || !strings.Contains(out, tc.why) {
				t.Fatalf("exit %d, output %q; want 2 naming %q", code, out, tc.why)
			}
		})
	}

	t.Run("to the daemon", func(t *testing.T) {
		e := edgetest.Start(t, edgetest.Options{})
		// A daemon with a configuration file of its own (the join writes it).
		yml := []byte("edges:\n  - name: other\n    address: 127.0.0.1:7844\nclusters:\n  - name: prod\n    app: k8s.prod.example.com\n    token: t\n")
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, yml, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(yml, path)
		if err != nil {
			t.Fatal(err)
		}
		d := daemontest.Start(t, cfg)
		wrong := joinlink.Invite{Edge: e.OAuthURL, CA: "sha256:" + strings.Repeat("ab", 32)}
		code, out := run(t, "--no-start", "--socket", d.Socket, wrong.Link())
		if code != 1 || !strings.Contains(out, "the link's join failed") || !strings.Contains(out, e.OAuthURL) || !strings.Contains(out, "pins "+wrong.CA) {
			t.Fatalf("exit %d, output:\n%s\nwant 1, the join refused for the CA fingerprint", code, out)
		}
	})
}
