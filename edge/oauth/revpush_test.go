package oauth_test

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/airlockhq/airlock/edge/edgetest"
	"github.com/airlockhq/airlock/internal/systest/fleetstore"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestRevocationPush: two edges on one real PostgreSQL store. Alice signs
// in at A and streams at B; she is revoked at A; B learns the family from
// the store's push (its log says so, a line only the push writes) and
// refuses her next stream at once, without waiting for its refresh every
// minute.
func TestRevocationPush(t *testing.T) {
	ctx := testenv.Context(t)
	urlFile := fleetstore.URLFile(ctx, t)
	var bLog testenv.Buffer
	fleetFixture := func(logger *slog.Logger) *fixture {
		e := edgetest.Start(t, edgetest.Options{Logger: logger})
		e.UseStore(t, urlFile)
		e.AddUser(t, alice, alicePW)
		e.EchoConnector(t, e.CreateTunnel(t, "demo", app))
		return &fixture{e: e, conn: e.DialClient(t), cb: newCallback(t)}
	}
	a := fleetFixture(nil)
	b := fleetFixture(slog.New(slog.NewTextHandler(&bLog, nil)))

	tok := a.signIn(t, alice, alicePW, app)
	if err := b.stream(t, app, tok.AccessToken); err != nil {
		t.Fatalf("A's sign-in at B: %v", err)
	}
	a.e.RevokeUser(t, alice)
	const pushed = "a refresh token family revoked in the shared store (pushed)"
	testenv.Eventually(t, "B to log the pushed revocation", func() bool {
		return bytes.Contains(bLog.Bytes(), []byte(pushed))
	})
	wantRefused(t, b.stream(t, app, tok.AccessToken), wire.CodeUnauthenticated, "revoked")
	if _, err := b.refresh(t, tok.RefreshToken); err == nil {
		t.Fatal("B refreshed a revoked sign-in")
	}
}
