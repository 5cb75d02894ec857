package edge_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/cli"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestServiceTokenRevocationAtRunningEdge revokes service tokens with the
// airlock-edge command line while an edge runs and follows its config
// file as `airlock-edge serve` does ([edge.WatchConfig]): each revoked
// token is refused on its next stream, unauthenticated and named, and
// every other token keeps working. Before these commands existed the
// service tokens of a revoked or removed user kept working until they
// expired.
func TestServiceTokenRevocationAtRunningEdge(t *testing.T) {
	const app = "k8s.demo.test"
	e := edgetest.Start(t, edgetest.Options{})
	tun := e.CreateTunnel(t, "demo", app)
	e.AddUser(t, "dave@example.com", "correct horse")
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan error, 1)
	go func() {
		watched <- edge.WatchConfig(ctx, e.ConfigPath, slog.New(slog.DiscardHandler), e.Server().Reload)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-watched; err != nil {
			t.Errorf("WatchConfig: %v", err)
		}
	})
	e.EchoConnector(t, tun)
	c := e.DialClient(t)

	toks := map[string]string{} // name → token
	ids := map[string]string{}  // name → recorded id
	for name, email := range map[string]string{"alice1": "alice@example.com", "alice2": "alice@example.com", "bob": "bob@example.com", "dave": "dave@example.com"} {
		out, errOut := airlockEdge(t, "token", "mint", "--app", app, "--email", email, "--ttl", "1h", "--config", e.ConfigPath)
		toks[name] = strings.TrimSpace(out)
		if f := strings.Fields(errOut); len(f) > 2 && f[0] == "service" {
			ids[name] = f[2]
		} else {
			t.Fatalf("token mint printed no id on stderr: %q", errOut)
		}
	}
	// A token without a record (minted before tokens were recorded).
	minted := time.Now().Add(-time.Minute)
	legacy, err := e.Signer().Sign(token.Claims{Subject: "carol@example.com", Email: "carol@example.com", Audience: []string{app},
		Kind: token.KindService, IssuedAt: minted, NotBefore: minted, ExpiresAt: minted.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	toks["carol"] = legacy
	e.Reload(t)
	refused := map[string]bool{}
	checkAll(t, c, app, toks, refused)

	steps := []struct {
		name   string
		args   []string
		target string // the token the step revokes
		msg    string // the refusal names it
	}{
		{"token revoke refuses that token and no other", []string{"token", "revoke", ids["alice1"]}, "alice1", ids["alice1"]},
		{"user revoke refuses the user's service tokens", []string{"user", "revoke", "bob@example.com"}, "bob", ids["bob"]},
		{"user revoke reaches a token without a record", []string{"user", "revoke", "carol@example.com"}, "carol", "service tokens of carol@example.com"},
		{"user remove refuses the user's service tokens", []string{"user", "remove", "dave@example.com"}, "dave", ids["dave"]},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			airlockEdge(t, append(st.args, "--config", e.ConfigPath)...)
			testenv.Eventually(t, st.target+"'s token refused", func() error {
				_, err := edgetest.Echo(t, c, app, toks[st.target], "ping")
				if err == nil {
					return fmt.Errorf("still open")
				}
				if code := relay.CodeOf(err); code != wire.CodeUnauthenticated || !strings.Contains(err.Error(), st.msg) {
					return testenv.Stop(fmt.Errorf("refused with %v, want unauthenticated naming %q", err, st.msg))
				}
				return nil
			})
			refused[st.target] = true
			checkAll(t, c, app, toks, refused)
		})
	}

	rec := e.WaitAudit(t, func(r edge.AuditRecord) bool { return strings.Contains(r.Message, ids["alice1"]) })
	if rec.User != "alice@example.com" || rec.Outcome != "unauthenticated" || strings.Contains(e.AuditText(), toks["alice1"]) {
		t.Fatalf("audit of the revoked token %+v (the log must never hold the token)", rec)
	}
	out, _ := airlockEdge(t, "token", "list", "--config", e.ConfigPath)
	for name, by := range map[string]string{"alice1": "(token revoke)", "alice2": "no", "bob": "(user revoke)", "dave": "(user remove)"} {
		if !containsRow(out, ids[name], by) {
			t.Errorf("token list lacks %s revoked %q:\n%s", ids[name], by, out)
		}
	}
}

// checkAll opens a stream with every token: those in refused must be
// refused as unauthenticated, the others must echo.
func checkAll(tb testing.TB, c *edgeclient.Conn, app string, toks map[string]string, refused map[string]bool) {
	tb.Helper()
	for name, tok := range toks {
		got, err := edgetest.Echo(tb, c, app, tok, "ping")
		switch {
		case refused[name] && relay.CodeOf(err) != wire.CodeUnauthenticated:
			tb.Errorf("%s's token: %q, %v; want it refused as unauthenticated", name, got, err)
		case !refused[name] && (err != nil || got != "ping"):
			tb.Errorf("%s's token: %q, %v; want the echo", name, got, err)
		}
	}
}

// airlockEdge runs the airlock-edge command line in-process and fails tb
// unless it exits 0; it returns what it printed.
func airlockEdge(tb testing.TB, args ...string) (stdout, stderr string) {
	tb.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Command(context.Background(), args, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut}); code != 0 {
		tb.Fatalf("airlock-edge %s: exit %d\n%s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String(), errOut.String()
}

// containsRow reports whether out has the row of id and its REVOKED
// column starts with want ("no"), or holds it ("(token revoke)").
func containsRow(out, id, want string) bool {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != id {
			continue
		}
		rest := strings.Join(f[4:], " ")
		return strings.HasPrefix(rest, want) || strings.Contains(rest, " "+want)
	}
	return false
}
