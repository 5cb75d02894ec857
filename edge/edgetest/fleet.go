package edgetest

import (
	"context"
	"testing"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/testenv"
)

// ShareTokens makes e accept the tokens other signs, as the edges of a
// fleet do: other's issuer becomes e's, and other's signing key one of e's
// verification keys (e still signs with its own). Tokens minted at other
// (MintToken) then pass at both. It reloads e.
func (e *Edge) ShareTokens(tb testing.TB, other *Edge) {
	tb.Helper()
	theirs, err := edge.LoadConfig(other.ConfigPath)
	if err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	key := theirs.Tokens.SigningKeys[0]
	key.File = theirs.Path(key.File)
	e.UpdateConfig(tb, func(c *edge.Config) error {
		c.Tokens.Issuer = theirs.Tokens.Issuer
		c.Tokens.SigningKeys = append(c.Tokens.SigningKeys, key)
		return nil
	})
}

// Streams counts the audit lines of streams for app with outcome (a code's
// slug: "ok", "no_connector", "forbidden", ...).
func (e *Edge) Streams(tb testing.TB, app, outcome string) int {
	tb.Helper()
	n := 0
	for _, r := range e.Audit(tb) {
		if r.App == app && r.Outcome == outcome {
			n++
		}
	}
	return n
}

// WaitStreams waits until the audit holds at least n streams for app with
// outcome (lines are written as streams end) and returns how many it holds.
func (e *Edge) WaitStreams(tb testing.TB, app, outcome string, n int) int {
	tb.Helper()
	ctx := testenv.Context(tb)
	for {
		changed := e.audit.changed()
		if got := e.Streams(tb, app, outcome); got >= n {
			return got
		}
		select {
		case <-changed:
		case <-ctx.Done():
			tb.Fatalf("edgetest: %d streams for %s with outcome %s, want %d (%v); the log:\n%s", e.Streams(tb, app, outcome), app, outcome, n, context.Cause(ctx), e.audit.String())
		}
	}
}

// UseStore moves the edge onto the shared sign-in store whose database URL
// urlFile holds (0600; the schema migrated already, as `airlock-edge
// migrate` does), and restarts it: edges on one store are a fleet, each
// verifying the tokens the others sign with the keys they publish there.
func (e *Edge) UseStore(tb testing.TB, urlFile string) {
	tb.Helper()
	if _, err := edge.UpdateConfig(e.ConfigPath, func(c *edge.Config) error {
		c.StoreFile, c.Store = "", &edge.StoreConfig{URLFile: urlFile, MaxConns: 4}
		return nil
	}); err != nil {
		tb.Fatalf("edgetest: %v", err)
	}
	e.Restart(tb)
}
