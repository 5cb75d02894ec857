package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/edge/oauth/storetest"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestContractAcrossEdges runs the contract on two stores of one
// database, as two edges of a fleet: each call goes to the other store
// than the call before, so every case checks that what one edge did the
// next one sees.
func TestContractAcrossEdges(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	n := storetest.Run(t, func(tb testing.TB) oauth.Store {
		dsn := c.NewDatabase(ctx, tb)
		return &alternate{stores: [2]oauth.Store{open(tb, dsn), open(tb, dsn)}}
	})
	t.Logf("%d contract cases across two stores", n)
}

// alternate sends each call to the next of its stores in turn.
type alternate struct {
	stores [2]oauth.Store
	n      atomic.Uint64
}

func (a *alternate) next() oauth.Store { return a.stores[a.n.Add(1)%2] }

func (a *alternate) PutCode(ctx context.Context, key string, c oauth.Code) error {
	return a.next().PutCode(ctx, key, c)
}

func (a *alternate) RedeemCode(ctx context.Context, key string, now time.Time) (oauth.Code, error) {
	return a.next().RedeemCode(ctx, key, now)
}

func (a *alternate) SetCodeFamily(ctx context.Context, key, family string) error {
	return a.next().SetCodeFamily(ctx, key, family)
}

func (a *alternate) CreateFamily(ctx context.Context, f oauth.Family) error {
	return a.next().CreateFamily(ctx, f)
}

func (a *alternate) Rotate(ctx context.Context, oldKey, newKey string, now, expires time.Time) (oauth.Family, error) {
	return a.next().Rotate(ctx, oldKey, newKey, now, expires)
}

func (a *alternate) FamilyByRefresh(ctx context.Context, key string) (oauth.Family, error) {
	return a.next().FamilyByRefresh(ctx, key)
}

func (a *alternate) RevokeFamily(ctx context.Context, id string, at time.Time, reason string) error {
	return a.next().RevokeFamily(ctx, id, at, reason)
}

func (a *alternate) RevokeUser(ctx context.Context, email string, before, at time.Time) ([]string, error) {
	return a.next().RevokeUser(ctx, email, before, at)
}

func (a *alternate) RevokedSince(ctx context.Context, since time.Time) ([]string, error) {
	return a.next().RevokedSince(ctx, since)
}

func (a *alternate) PutDevice(ctx context.Context, d oauth.Device) error {
	return a.next().PutDevice(ctx, d)
}

func (a *alternate) UpdateDevice(ctx context.Context, key string, fn func(*oauth.Device) error) (oauth.Device, error) {
	return a.next().UpdateDevice(ctx, key, fn)
}

func (a *alternate) DeviceByUserCode(ctx context.Context, userCode string) (oauth.Device, error) {
	return a.next().DeviceByUserCode(ctx, userCode)
}

func (a *alternate) Collect(ctx context.Context, now time.Time, keep time.Duration) error {
	return a.next().Collect(ctx, now, keep)
}

// Close does nothing: open closes the stores when the case ends.
func (a *alternate) Close() error { return nil }
