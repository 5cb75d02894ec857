package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTokenCommands: token mint prints the token alone on stdout and its
// id on stderr; token list shows id, subject, app, expiry, revocation and
// note; token revoke marks that token only, and says so when it was
// revoked before.
func TestTokenCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustRun(t, "", "init", "--dir", dir)
	mustRun(t, "", "tunnel", "create", "demo", "--hostname", "k8s.demo.test", "--allow-email-domain", "example.com", "--dir", dir)
	if out := mustRun(t, "", "token", "list", "--dir", dir); !strings.Contains(out, "no service tokens") {
		t.Fatalf("token list of a new state:\n%s", out)
	}
	mint := func(email, note string) (tok, id string) {
		t.Helper()
		args := []string{"token", "mint", "--app", "k8s.demo.test", "--email", email, "--ttl", "2h", "--dir", dir}
		if note != "" {
			args = append(args, "--note", note)
		}
		code, out, errOut := runCmd(t, "", args...)
		f := strings.Fields(errOut)
		if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 || len(f) < 3 || f[0] != "service" || !strings.Contains(errOut, "token revoke "+f[2]) {
			t.Fatalf("token mint: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		return strings.TrimSpace(out), f[2]
	}
	_, ci := mint("ci@example.com", "nightly deploy")
	_, bot := mint("Bot@Example.com", "")

	rows := func(tb testing.TB) map[string][]string {
		tb.Helper()
		lines := strings.Split(strings.TrimSpace(mustRun(tb, "", "token", "list", "--dir", dir)), "\n")
		if f := strings.Fields(lines[0]); strings.Join(f, " ") != "ID SUBJECT APP EXPIRES REVOKED NOTE" {
			tb.Fatalf("token list header %q", lines[0])
		}
		out := map[string][]string{}
		for _, l := range lines[1:] {
			f := strings.Fields(l)
			out[f[0]] = f
		}
		return out
	}
	got := rows(t)
	for _, tc := range []struct {
		name, id, subject, note string
	}{
		{"with a note", ci, "ci@example.com", "nightly deploy"},
		{"email in lower case", bot, "bot@example.com", ""},
	} {
		t.Run("list "+tc.name, func(t *testing.T) {
			f := got[tc.id]
			if len(f) < 5 || f[1] != tc.subject || f[2] != "k8s.demo.test" || !strings.HasSuffix(f[3], "Z") || f[4] != "no" || strings.Join(f[5:], " ") != tc.note {
				t.Fatalf("row of %s: %q", tc.id, f)
			}
		})
	}

	if out := mustRun(t, "", "token", "revoke", ci, "--dir", dir); !strings.Contains(out, "revoked service token "+ci) {
		t.Fatalf("token revoke: %s", out)
	}
	if out := mustRun(t, "", "token", "revoke", ci, "--dir", dir); !strings.Contains(out, "already revoked") {
		t.Fatalf("token revoke again: %s", out)
	}
	got = rows(t)
	if f := got[ci]; len(f) < 7 || f[5] != "(token" || f[6] != "revoke)" {
		t.Fatalf("row of the revoked token: %q", f)
	}
	if f := got[bot]; len(f) < 5 || f[4] != "no" {
		t.Fatalf("row of the other token: %q", f)
	}

	checkFailures(t, []failure{
		{name: "token without subcommand", args: []string{"token"}, usage: true, msg: "mint, list or revoke"},
		{name: "token unknown subcommand", args: []string{"token", "delete"}, usage: true, msg: "delete"},
		{name: "revoke without id", args: []string{"token", "revoke", "--dir", dir}, usage: true, msg: "ID"},
		{name: "revoke unknown id", args: []string{"token", "revoke", "NOSUCH", "--dir", dir}, msg: "no service token \"NOSUCH\""},
		{name: "list extra argument", args: []string{"token", "list", "x", "--dir", dir}, usage: true, msg: "x"},
		{name: "mint note too long", args: []string{"token", "mint", "--app", "k8s.demo.test", "--email", "a@example.com", "--note", strings.Repeat("n", 201), "--dir", dir}, msg: "--note"},
	})
}
