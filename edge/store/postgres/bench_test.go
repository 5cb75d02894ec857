package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// BenchmarkRevocationPush: from RevokeFamily at one store to the id
// reaching the watch of another on the same database (ns/op is that
// delay, the revoking transaction included).
func BenchmarkRevocationPush(b *testing.B) {
	ctx := testenv.Context(b)
	c := pgtest.Start(ctx, b)
	dsn := c.NewDatabase(ctx, b)
	st1, st2 := open(b, dsn), open(b, dsn)
	now := time.Now()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("f%d", i)
		f := oauth.Family{ID: ids[i], ClientID: "airlock", Identity: oauth.Identity{Email: "a@example.com", IDP: oauth.IDPUsers},
			Created: now, Expires: now.Add(time.Hour), Current: ids[i] + "-0"}
		if err := st1.CreateFamily(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
	got := make(chan string, 16)
	up := make(chan struct{}, 1)
	wctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	g.Go(func() error {
		return st2.WatchRevocations(wctx, func(id string) { got <- id }, func() {
			select {
			case up <- struct{}{}:
			default:
			}
		})
	})
	defer func() { cancel(); _ = g.Wait() }()
	<-up
	b.ResetTimer()
	for i := range b.N {
		if err := st1.RevokeFamily(ctx, ids[i], now, "bench"); err != nil {
			b.Fatal(err)
		}
		for id := range got {
			if id == ids[i] {
				break
			}
		}
	}
}
