package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/cli"
	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// fleetEdge starts an edge of its own (its own key files) on the
// database of urlFile, with tunnel "keys" serving app through an echo
// connector.
func fleetEdge(tb testing.TB, urlFile, app string) *edgetest.Edge {
	tb.Helper()
	e := edgetest.Start(tb, edgetest.Options{})
	e.UpdateConfig(tb, func(c *edge.Config) error {
		c.StoreFile, c.Store = "", &edge.StoreConfig{URLFile: urlFile, MaxConns: 4}
		return nil
	})
	e.Restart(tb) // the store is opened at start
	e.EchoConnector(tb, e.CreateTunnel(tb, "keys", app))
	return e
}

// mintAt signs a service token for app with the first signing key of the
// config at e's path now (after a rotation: the new key).
func mintAt(tb testing.TB, e *edgetest.Edge, app string) (tok, kid string) {
	tb.Helper()
	cfg, err := edge.LoadConfig(e.ConfigPath)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := cfg.Signer()
	if err != nil {
		tb.Fatal(err)
	}
	tok, err = s.Mint(token.KindService, app, "alice@"+edgetest.DefaultEmailDomain, nil, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok, s.PublicKey().ID
}

// rotateAt runs `airlock-edge key rotate` on e's config.
func rotateAt(tb testing.TB, e *edgetest.Edge) {
	tb.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Command(context.Background(), []string{"key", "rotate", "--config", e.ConfigPath},
		cli.Env{Stdout: &out, Stderr: &errOut}); code != 0 {
		tb.Fatalf("key rotate: exit %d\n%s", code, errOut.String())
	}
}

// echoes opens a stream to app through c with tok, nil if it echoes.
func echoes(tb testing.TB, c *edgeclient.Conn, app, tok, what string) error {
	tb.Helper()
	got, err := edgetest.Echo(tb, c, app, tok, what)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if got != what {
		return fmt.Errorf("%s: echoed %q", what, got)
	}
	return nil
}

func hasKey(keys []wire.PublicKey, kid string) bool {
	return slices.ContainsFunc(keys, func(k wire.PublicKey) bool { return k.ID == kid })
}

func kids(keys []wire.PublicKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

// jwksKids are the key ids of e's /.well-known/jwks.json.
func jwksKids(tb testing.TB, e *edgetest.Edge) []string {
	tb.Helper()
	res, err := e.HTTPClient().Get(e.OAuthURL + "/.well-known/jwks.json")
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&set) != nil {
		tb.Fatalf("jwks: %s", res.Status)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestFleetKeys: two edges on one PostgreSQL, each with key files of its
// own. A token signed at A opens a stream at B; after `key rotate` at A
// (a token minted then, and after A's reload), A's new tokens open
// streams at B without B restarting (B's key watch), A's old ones still do, and the old key is published
// to expire after the longest token lifetime. With the database down, B
// keeps verifying with the keys it has (a reload there too), and A
// refuses a reload that would sign with a key the fleet cannot learn;
// once the database is back, B's watch catches up and A's reload goes
// through.
func TestFleetKeys(t *testing.T) {
	const app = "keys.example.com"
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	urlFile := filepath.Join(t.TempDir(), "store-url")
	if err := os.WriteFile(urlFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mig, err := postgres.Open(ctx, postgres.Options{URL: dsn, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mig.Close()

	a, b := fleetEdge(t, urlFile, app), fleetEdge(t, urlFile, app)
	atA, atB := a.DialClient(t), b.DialClient(t)
	old, oldKid := mintAt(t, a, app)
	_, bKid := mintAt(t, b, app)
	if oldKid == bKid {
		t.Fatal("the two edges share a signing key")
	}
	if !hasKey(b.Keys(), oldKid) || !hasKey(a.Keys(), bKid) {
		t.Fatalf("at start: A verifies %v, B %v; each should have the other's key", kids(a.Keys()), kids(b.Keys()))
	}
	if err := echoes(t, atB, app, old, "minted at A, opened at B"); err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, b); !slices.Contains(kids, oldKid) || !slices.Contains(kids, bKid) {
		t.Fatalf("B's JWKS %v lacks A's key %s or its own %s", kids, oldKid, bKid)
	}

	// `key rotate` at A, and `token mint` before A has reloaded: the
	// mint publishes the new key before it signs with it.
	rotateAt(t, a)
	fresh, rec, err := edge.MintToken(a.ConfigPath, edge.MintOptions{App: app, Email: "alice@" + edgetest.DefaultEmailDomain, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, newKid := mintAt(t, a, app)
	if newKid == oldKid || rec.ID == "" {
		t.Fatalf("key rotate did not change the signing key (%s), or no record %+v", newKid, rec)
	}
	testenv.Eventually(t, "B has A's new key, through its watch", func() bool { return hasKey(b.Keys(), newKid) })
	if err := echoes(t, atB, app, fresh, "minted with A's new key before A's reload, at B"); err != nil {
		t.Fatal(err)
	}
	a.Reload(t) // a served edge follows its config file; this one is told
	for _, s := range []struct {
		c        *edgeclient.Conn
		tok, msg string
	}{
		{atB, fresh, "A's new key at B"},
		{atB, old, "A's old key at B"},
		{atA, fresh, "A's new key at A"},
		{atA, old, "A's old key at A"},
	} {
		if err := echoes(t, s.c, app, s.tok, s.msg); err != nil {
			t.Fatal(err)
		}
	}
	// Old tokens verify until they expire: the retired key stays in the
	// fleet for the longest token lifetime (service tokens), no longer.
	cfg, err := edge.LoadConfig(a.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	longest := time.Duration(cfg.Tokens.MaxServiceTTL)
	for _, r := range []struct {
		at   time.Time
		want bool
	}{{time.Now().Add(longest), true}, {time.Now().Add(longest + time.Hour), false}} {
		keys, err := mig.FleetKeys(ctx, r.at)
		if err != nil {
			t.Fatal(err)
		}
		if hasKey(keys, oldKid) != r.want || !hasKey(keys, newKid) {
			t.Fatalf("fleet keys %s from now: %v; want the new key, and the old one: %v", time.Until(r.at).Round(time.Hour), kids(keys), r.want)
		}
	}

	// The database goes down.
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	b.Reload(t) // rereads nothing, keeps what it had
	for _, tok := range []string{old, fresh} {
		if err := echoes(t, atB, app, tok, "A's token at B, the database down"); err != nil {
			t.Fatal(err)
		}
	}
	rotateAt(t, a)
	next, err := edge.LoadConfig(a.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Server().Reload(next); err == nil || !strings.Contains(err.Error(), "publish") {
		t.Fatalf("a reload to a new signing key with the database down: %v, want a refusal naming the publication", err)
	}
	if got := a.Keys()[0].ID; got != newKid {
		t.Fatalf("after the refused reload A signs with %s, want %s still", got, newKid)
	}

	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	a.Reload(t)
	_, third := mintAt(t, a, app)
	testenv.Eventually(t, "B has A's third key once the database is back", func() bool { return hasKey(b.Keys(), third) })
	thirdTok, _ := mintAt(t, a, app)
	if err := echoes(t, atB, app, thirdTok, "A's third key at B"); err != nil {
		t.Fatal(err)
	}
}
