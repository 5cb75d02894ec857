package edge

import (
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestDialCarriesAssertion: the Dial a connector gets carries an assertion
// the edge signed for this tunnel, app and stream, with the identity it
// verified, and the assertion opens nothing at the edge.
func TestDialCarriesAssertion(t *testing.T) {
	e := startEdge(t)
	fc := e.connector(t, "conn-a", e.creds)
	c := e.client(t)
	tok := e.mint(t, testApp, "alice@example.com", time.Hour)
	str, res := open(t, c, &wire.Open{App: testApp, Token: tok, Target: "x:1"})
	if res.Code != wire.CodeOK {
		t.Fatalf("result %v", res.Err())
	}
	str.CancelRead(0)
	str.Close()
	d := <-fc.dials
	if d.Assertion == "" {
		t.Fatalf("dial %+v carries no assertion", d)
	}
	if strings.Contains(d.Assertion, tok) {
		t.Fatal("the assertion holds the user's token")
	}
	v, err := token.NewVerifier(fc.welcome.Keys, token.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := v.VerifyAssertion(d.Assertion, token.AssertionTarget{TunnelID: e.creds.TunnelID, App: testApp, StreamID: d.StreamID})
	if err != nil {
		t.Fatalf("the assertion does not verify with the keys of the connector's Welcome: %v", err)
	}
	if a.Email != "alice@example.com" || a.Subject != "alice@example.com" || a.Kind != token.KindService ||
		a.ExpiresAt.Sub(a.IssuedAt) != token.DefaultAssertionTTL {
		t.Fatalf("assertion %+v", a)
	}
	for _, app := range []string{testApp, otherApp} {
		_, res := open(t, c, &wire.Open{App: app, Token: d.Assertion})
		if res.Code != wire.CodeUnauthenticated {
			t.Fatalf("the assertion as a token for %s: %v, want unauthenticated", app, res.Err())
		}
	}
	if strings.Contains(e.audit.String(), d.Assertion) {
		t.Fatal("the audit log holds an assertion")
	}
}

// TestAssertionSignerAcrossRotation: a key added by rotation does not sign
// assertions until the key that signed them is gone, so that no connector
// gets an assertion signed by a key its Keys frame has not brought yet.
func TestAssertionSignerAcrossRotation(t *testing.T) {
	path := initState(t)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := assertionSigner(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldID := cfg.Tokens.SigningKeys[0].ID
	if first.PublicKey().ID != oldID {
		t.Fatalf("signer %s, want the first key %s", first.PublicKey().ID, oldID)
	}
	newID, err := RotateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = LoadConfig(path); err != nil {
		t.Fatal(err)
	}
	if cfg.Tokens.SigningKeys[0].ID != newID {
		t.Fatalf("rotation put %s first, want %s", cfg.Tokens.SigningKeys[0].ID, newID)
	}
	cases := []struct {
		name string
		prev *token.Signer
		want string
	}{
		{"after rotation, the old key goes on", first, oldID},
		{"at start, the first key", nil, newID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := assertionSigner(cfg, tc.prev)
			if err != nil {
				t.Fatal(err)
			}
			if got.PublicKey().ID != tc.want {
				t.Fatalf("signer %s, want %s", got.PublicKey().ID, tc.want)
			}
		})
	}
	cfg, err = UpdateConfig(path, func(c *Config) error {
		c.Tokens.SigningKeys = c.Tokens.SigningKeys[:1]
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := assertionSigner(cfg, first)
	if err != nil {
		t.Fatal(err)
	}
	if got.PublicKey().ID != newID {
		t.Fatalf("once the old key is removed: signer %s, want %s", got.PublicKey().ID, newID)
	}
}
