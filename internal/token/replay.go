package token

import (
	"container/heap"
	"sync"
	"time"
)

// DefaultReplayCacheSize bounds a [ReplayCache] made with size 0: at the
// default assertion lifetime and leeway, about a thousand streams a second.
const DefaultReplayCacheSize = 1 << 16

// ReplayCache remembers the nonces of accepted stream assertions until they
// could no longer be accepted anyway, so that each is accepted once. Safe
// for concurrent use.
//
// It is bounded, and each [ReplayCache.Use] costs O(log n) whatever the
// cache holds: the nonces sit in a min-heap by the time they lapse, and
// Use first forgets those that have. Full of live entries, it refuses
// ([ErrReplayCacheFull]) rather than evict one, even the one closest to
// lapsing: an evicted nonce could be presented again while its assertion
// is still valid and would be accepted a second time, which is the replay
// the cache exists to stop. A refusal costs one stream; an eviction would
// cost the guarantee. Only assertions whose signature and target verified
// reach the cache, so filling it takes the edge signing that many
// assertions for this connector within one lifetime.
type ReplayCache struct {
	mu   sync.Mutex
	max  int
	seen map[string]time.Time // nonce → until when it is remembered
	// byUntil holds the same entries as seen, earliest lapse first:
	// after prune every entry of seen is live and has exactly one here.
	byUntil replayHeap
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
	if u, ok := c.seen[nonce]; ok {
		return errorf(ErrReplayed, "nonce seen before (remembered until %s)", u.UTC().Format(time.RFC3339))
	}
	if len(c.seen) >= c.max {
		return errorf(ErrReplayCacheFull, "%d assertions are live, the most this connector remembers; the earliest lapses at %s",
			len(c.seen), c.byUntil[0].until.UTC().Format(time.RFC3339))
	}
	c.seen[nonce] = until
	heap.Push(&c.byUntil, replayEntry{nonce, until})
	return nil
}

// Len returns the number of nonces remembered.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// prune forgets every entry that has lapsed at now, earliest first.
func (c *ReplayCache) prune(now time.Time) {
	for len(c.byUntil) > 0 && !now.Before(c.byUntil[0].until) {
		e := heap.Pop(&c.byUntil).(replayEntry)
		delete(c.seen, e.nonce)
	}
}

// replayHeap is a container/heap of entries by until.
type replayHeap []replayEntry

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h replayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *replayHeap) Push(x any)        { *h = append(*h, x.(replayEntry)) }
func (h *replayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = replayEntry{}
	*h = old[:len(old)-1]
	return e
}
