package edge_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestRogueConnectorCannotReplay is the attack of issue 10, item 1, against
// a real edge: a connector of tunnel A (or anyone with a copy of its
// credentials file) takes everything the Dial of a user's stream gave it
// and presents each piece as a client's token, for tunnel B's app and for
// its own. The user's token covers both apps, and B's app works with it;
// nothing the connector got opens either.
func TestRogueConnectorCannotReplay(t *testing.T) {
	const appA, appB = "a.example.com", "b.example.com"
	e := edgetest.Start(t, edgetest.Options{})
	tunA := e.CreateTunnel(t, "a", appA)
	tunB := e.CreateTunnel(t, "b", appB)
	captured := e.RogueConnector(t, tunA)
	e.EchoConnector(t, tunB)

	userToken, err := e.Signer().Sign(token.Claims{
		Subject: "u-alice", Email: "alice@example.com", Audience: []string{appA, appB},
		Kind: token.KindAccess, ExpiresAt: time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	user := e.DialClient(t)
	if got, err := edgetest.Echo(t, user, appA, userToken, "to a"); err != nil || got != "to a" {
		t.Fatalf("the user's stream to %s: %q, %v", appA, got, err)
	}
	var d *wire.Dial
	select {
	case d = <-captured:
	case <-testenv.Context(t).Done():
		t.Fatal("the rogue connector got no Dial")
	}
	if got, err := edgetest.Echo(t, user, appB, userToken, "to b"); err != nil || got != "to b" {
		t.Fatalf("the user's own token does open %s: %q, %v", appB, got, err)
	}

	// Everything the Dial carried, field by field.
	loot := map[string]string{}
	v := reflect.ValueOf(*d)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String && f.String() != "" {
			loot[v.Type().Field(i).Name] = f.String()
		}
	}
	if len(loot) == 0 {
		t.Fatal("the Dial carried nothing")
	}
	for name, val := range loot {
		if strings.Contains(val, userToken) {
			t.Errorf("the Dial's %s holds the user's token", name)
		}
	}
	rogue := e.DialClient(t) // a client connection of the attacker's own
	for name, val := range loot {
		for _, app := range []string{appB, appA} {
			t.Run(name+" for "+app, func(t *testing.T) {
				_, err := edgetest.Echo(t, rogue, app, val, "as alice")
				var we *wire.Error
				if !errors.As(err, &we) || we.Code != wire.CodeUnauthenticated {
					t.Fatalf("opening %s with the Dial's %s: %v, want unauthenticated", app, name, err)
				}
			})
		}
	}
}
