package token

import (
	"sync"
	"time"
)

// DefaultReplayCacheSize bounds a [ReplayCache] made with size 0: at the
// default assertion lifetime and leeway, about a thousand streams a second.
const DefaultReplayCacheSize = 1 << 16

// ReplayCache remembers the nonces of accepted stream assertions until they
// could no longer be accepted anyway, so that each is accepted once. It is
// bounded: full of live entries, it refuses ([ErrReplayCacheFull]) rather
// than forget one that could then be replayed. Safe for concurrent use.
type ReplayCache struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time // nonce → until when it is remembered
	queue []replayEntry        // in insertion order, from head
	head  int
}

type replayEntry struct {
	nonce string
	until time.Time
}

// NewReplayCache returns a cache of at most size nonces
// (DefaultReplayCacheSize if size is 0 or less).
func NewReplayCache(size int) *ReplayCache {
	if size <= 0 {
		size = DefaultReplayCacheSize
	}
	return &ReplayCache{max: size, seen: make(map[string]time.Time)}
}

// Use records nonce until the given time, or refuses it: [ErrReplayed] when
// it is recorded already, [ErrReplayCacheFull] when the cache holds its
// maximum of entries that have not lapsed at now.
func (c *ReplayCache) Use(nonce string, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	if u, ok := c.seen[nonce]; ok && now.Before(u) {
		return errorf(ErrReplayed, "nonce seen before (remembered until %s)", u.UTC().Format(time.RFC3339))
	}
	if len(c.seen) >= c.max {
		c.sweep(now)
		if len(c.seen) >= c.max {
			return errorf(ErrReplayCacheFull, "%d assertions are live", len(c.seen))
		}
	}
	c.seen[nonce] = until
	c.queue = append(c.queue, replayEntry{nonce, until})
	return nil
}

// Len returns the number of nonces remembered.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// prune forgets the oldest entries while they have lapsed. Lifetimes are
// nearly equal, so insertion order is nearly expiry order; sweep catches
// the rest when the cache fills.
func (c *ReplayCache) prune(now time.Time) {
	for c.head < len(c.queue) && !now.Before(c.queue[c.head].until) {
		e := c.queue[c.head]
		if u, ok := c.seen[e.nonce]; ok && u.Equal(e.until) {
			delete(c.seen, e.nonce)
		}
		c.queue[c.head] = replayEntry{}
		c.head++
	}
	if c.head > 64 && c.head > len(c.queue)/2 {
		c.queue = append(c.queue[:0], c.queue[c.head:]...)
		c.head = 0
	}
}

// sweep forgets every lapsed entry, in any order.
func (c *ReplayCache) sweep(now time.Time) {
	q := c.queue[:0]
	for _, e := range c.queue[c.head:] {
		u, ok := c.seen[e.nonce]
		switch {
		case !ok || !u.Equal(e.until):
		case !now.Before(u):
			delete(c.seen, e.nonce)
		default:
			q = append(q, e)
		}
	}
	clear(c.queue[len(q):])
	c.queue, c.head = q, 0
}
