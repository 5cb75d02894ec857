package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// keyStore is what the edge needs of a fleet's shared store for the token
// signing keys ([postgres.Store]).
type keyStore interface {
	PublishKeys(ctx context.Context, signing wire.PublicKey, retired []wire.PublicKey, now time.Time, keep time.Duration) error
	FleetKeys(ctx context.Context, now time.Time) ([]wire.PublicKey, error)
	WatchKeys(ctx context.Context, changed func(), listening func()) error
}

var _ keyStore = (*postgres.Store)(nil)

// keySlack widens a retired key's time in the fleet beyond the longest
// token lifetime and the leeway: for the moment between its retirement's
// publication and the signer's switch, and clocks that run apart.
const keySlack = time.Minute

// fleetKeys keeps the edge's verification keys: its config's own keys
// (which connectors get; the first one signs), and, with a shared store,
// every key the fleet published, so that a token signed at any edge of the
// fleet verifies here. Own keys are published before they sign (at start
// and at each reload); the fleet's keys are read at start, at each reload
// and at each change the store's watch reports. When the database is down
// the edge keeps verifying with the keys it last read.
type fleetKeys struct {
	store keyStore // nil: one edge (bbolt), own keys only
	log   *slog.Logger
	now   func() time.Time
	kick  chan struct{} // a reread of the fleet's keys is due

	mu    sync.Mutex // guards own and fleet; orders the calls of apply
	own   []wire.PublicKey
	fleet []wire.PublicKey
	apply func([]wire.PublicKey) // where the union goes (the verifiers); set once before Run
}

func newFleetKeys(store keyStore, log *slog.Logger, own []wire.PublicKey) *fleetKeys {
	return &fleetKeys{store: store, log: log.With("part", "keys"), now: time.Now, kick: make(chan struct{}, 1), own: own}
}

// retiredKeep is how long a key cfg no longer signs with verifies across
// the fleet: the longest lifetime of a token it signed (access tokens,
// service tokens; stream assertions live seconds), the leeway and
// keySlack.
func retiredKeep(cfg *Config) time.Duration {
	leeway := time.Duration(cfg.Tokens.Leeway)
	switch {
	case leeway == 0:
		leeway = token.DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	longest := max(time.Duration(cfg.Tokens.AccessTTL), time.Duration(cfg.Tokens.MaxServiceTTL), token.DefaultAssertionTTL)
	return longest + leeway + keySlack
}

// publishKeys publishes own (from cfg) to store: the first signs, the
// others are retired.
func publishKeys(ctx context.Context, store keyStore, cfg *Config, own []wire.PublicKey, now time.Time) error {
	if err := store.PublishKeys(ctx, own[0], own[1:], now, retiredKeep(cfg)); err != nil {
		return fmt.Errorf("tokens.signing_keys: publish to the store (nothing is signed with a key the fleet does not know): %w", err)
	}
	return nil
}

// start publishes the own keys and reads the fleet's, both required: an
// edge signs nothing the fleet cannot verify. It returns the union.
func (f *fleetKeys) start(ctx context.Context, cfg *Config) ([]wire.PublicKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.store == nil {
		return slices.Clone(f.own), nil
	}
	if err := publishKeys(ctx, f.store, cfg, f.own, f.now()); err != nil {
		return nil, err
	}
	fleet, err := f.store.FleetKeys(ctx, f.now())
	if err != nil {
		return nil, fmt.Errorf("read the fleet's signing keys: %w", err)
	}
	f.fleet = fleet
	return unionKeys(f.own, f.fleet), nil
}

// reload makes own the edge's keys under cfg, then calls apply with the
// union, all under f's lock (so a watch's reread cannot put older keys
// back). Own is published first (again, if unchanged: a database
// restored from a backup learns them back); when own differs from the
// keys the edge has now, a failure to publish refuses the reload (the
// running keys stay): a new signing key must be known to the fleet
// before it signs. The fleet's keys are reread (the only reread on a
// database without NOTIFY); a failure keeps the keys last read.
func (f *fleetKeys) reload(ctx context.Context, cfg *Config, own []wire.PublicKey, apply func(union []wire.PublicKey) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.store != nil {
		if err := publishKeys(ctx, f.store, cfg, own, f.now()); err != nil {
			if !sameKeys(own, f.own) {
				return err
			}
			f.log.Warn("the edge's keys not published again (the fleet has them from before)", "err", err)
		}
		if fleet, err := f.store.FleetKeys(ctx, f.now()); err != nil {
			f.log.Warn("the fleet's signing keys not reread; verifying with those last read", "keys", len(f.fleet), "err", err)
		} else {
			f.fleet = fleet
		}
	}
	if err := apply(unionKeys(own, f.fleet)); err != nil {
		return err
	}
	f.own = own
	return nil
}

// ownKeys are the config's keys, those connectors get: the stream
// assertions they check are signed by this edge alone.
func (f *fleetKeys) ownKeys() []wire.PublicKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.own)
}

// run follows the store's key watch until ctx ends, rereading the
// fleet's keys after each change it reports (changes that come while a
// reread is under way make one more). Without a store, or on a database
// without NOTIFY, it returns at once (nil): the keys are then reread at
// each reload.
func (f *fleetKeys) run(ctx context.Context) error {
	if f.store == nil {
		return nil
	}
	ctx, stop := context.WithCancel(ctx)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-f.kick:
				f.refresh(ctx)
			}
		}
	})
	g.Go(func() error {
		defer stop()
		err := f.store.WatchKeys(ctx, func() {
			select {
			case f.kick <- struct{}{}:
			default: // a reread is due already
			}
		}, nil)
		switch {
		case errors.Is(err, postgres.ErrNoNotify):
			f.log.Info("the database has no NOTIFY: the fleet's signing keys are reread at each reload")
			<-ctx.Done()
			return nil
		case ctx.Err() != nil:
			return nil
		}
		return fmt.Errorf("key watch: %w", err)
	})
	return g.Wait()
}

// refresh rereads the fleet's keys and applies the union; a failure
// (the database down) keeps the keys last read.
func (f *fleetKeys) refresh(ctx context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fleet, err := f.store.FleetKeys(ctx, f.now())
	if err != nil {
		if ctx.Err() == nil {
			f.log.Warn("the fleet's signing keys not reread; verifying with those last read", "keys", len(f.fleet), "err", err)
		}
		return
	}
	if sameKeys(fleet, f.fleet) {
		return
	}
	f.fleet = fleet
	keys := unionKeys(f.own, f.fleet)
	f.apply(keys)
	f.log.Info("the fleet's signing keys changed", "keys", len(keys))
}

// unionKeys is own, then the keys of fleet whose ids own has not (a fleet
// key under an own key's id with another public key is ignored: the
// store refuses to publish one, and this edge trusts its config).
func unionKeys(own, fleet []wire.PublicKey) []wire.PublicKey {
	out := slices.Clone(own)
	for _, k := range fleet {
		if !slices.ContainsFunc(own, func(o wire.PublicKey) bool { return o.ID == k.ID }) {
			out = append(out, k)
		}
	}
	return out
}

// sameKeys: a and b are the same keys in the same order.
func sameKeys(a, b []wire.PublicKey) bool {
	return slices.EqualFunc(a, b, func(x, y wire.PublicKey) bool { return x.ID == y.ID && x.Key.Equal(y.Key) })
}
