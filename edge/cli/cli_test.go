package cli_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/edge/cli"
	"github.com/airlockhq/airlock/internal/credentials"
)

// runCmd runs airlock-edge ARGS with stdin and returns the exit code and
// what it printed.
func runCmd(tb testing.TB, stdin string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	code = cli.Command(context.Background(), args, cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut})
	return code, out.String(), errOut.String()
}

// mustRun runs airlock-edge ARGS and fails unless it exits 0; it returns
// what it printed on stdout.
func mustRun(tb testing.TB, stdin string, args ...string) string {
	tb.Helper()
	code, out, errOut := runCmd(tb, stdin, args...)
	if code != 0 {
		tb.Fatalf("airlock-edge %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// failure is a command that must fail: with exit 2 (usage) or 1, and an
// error line naming msg.
type failure struct {
	name, stdin string
	args        []string
	usage       bool
	msg         string
}

func checkFailures(t *testing.T, tests []failure) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, tc.stdin, tc.args...)
			want := 1
			if tc.usage {
				want = 2
			}
			lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
			last := lines[len(lines)-1]
			if code != want || !strings.HasPrefix(last, "airlock-edge: ") || !strings.Contains(last, tc.msg) {
				t.Fatalf("exit %d, error line %q; want exit %d (usage=%v) and an error naming %q", code, last, want, tc.usage, tc.msg)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustRun(t, "", "init", "--dir", dir, "--hostname", "edge.example.test")
	out := mustRun(t, "", "tunnel", "create", "demo", "--hostname", "k8s.demo.test", "--allow-email-domain", "example.com", "--dir", dir)
	credsFile := filepath.Join(dir, "tunnels", "demo.json")
	if !strings.Contains(out, credsFile) {
		t.Fatalf("tunnel create output does not name the credentials file:\n%s", out)
	}
	c, err := credentials.ReadCredentials(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	if c.ServerName != "edge.example.test" {
		t.Fatalf("server name %q", c.ServerName)
	}
	out = mustRun(t, "", "token", "mint", "--app", "k8s.demo.test", "--email", "alice@example.com", "--ttl", "1h", "--config", filepath.Join(dir, "config.yaml"))
	if tok := strings.TrimSpace(out); strings.Count(tok, ".") != 2 || strings.Contains(tok, "\n") {
		t.Fatalf("token mint printed %q", out)
	}

	checkFailures(t, []failure{
		{name: "no command", usage: true, msg: "no command"},
		{name: "unknown command", args: []string{"frobnicate"}, usage: true, msg: "frobnicate"},
		{name: "tunnel without create", args: []string{"tunnel"}, usage: true, msg: "create"},
		{name: "tunnel without name", args: []string{"tunnel", "create", "--dir", dir, "--hostname", "a.test"}, usage: true, msg: "NAME"},
		{name: "tunnel without hostname", args: []string{"tunnel", "create", "x", "--dir", dir}, msg: "--hostname"},
		{name: "mint without email", args: []string{"token", "mint", "--app", "k8s.demo.test", "--dir", dir}, usage: true, msg: "--email"},
		{name: "mint unknown app", args: []string{"token", "mint", "--app", "nope.test", "--email", "a@example.com", "--dir", dir}, msg: "nope.test"},
		{name: "init twice", args: []string{"init", "--dir", dir}, msg: "--force"},
		{name: "serve missing config", args: []string{"serve", "--dir", filepath.Join(dir, "nope")}, msg: "no such file"},
	})
}
