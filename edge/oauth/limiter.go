package oauth

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter is a token bucket (golang.org/x/time/rate) per key, at most
// max keys: a new key drops the least recently used one, which starts
// again with a full bucket when it comes back. Callers pass the time, so
// tests run it on their own clock.
type keyedLimiter struct {
	every rate.Limit
	burst int
	max   int

	mu sync.Mutex
	ll *list.List // of *keyedEntry, most recently used first
	m  map[string]*list.Element
}

type keyedEntry struct {
	key string
	lim *rate.Limiter
}

// newKeyedLimiter allows burst events per key at once and one more every
// per after that.
func newKeyedLimiter(per time.Duration, burst, max int) *keyedLimiter {
	return &keyedLimiter{every: rate.Every(per), burst: burst, max: max, ll: list.New(), m: map[string]*list.Element{}}
}

// check reports whether key has an event left at now, and otherwise how
// long until it has, without using one.
func (k *keyedLimiter) check(key string, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[key]
	if !ok {
		return true, 0
	}
	k.ll.MoveToFront(e)
	return k.left(e.Value.(*keyedEntry).lim, now)
}

// take uses one event of key at now; it reports false, and how long until
// the next, when none is left.
func (k *keyedLimiter) take(key string, now time.Time) (bool, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[key]
	if ok {
		k.ll.MoveToFront(e)
	} else {
		if k.ll.Len() >= k.max {
			old := k.ll.Back()
			k.ll.Remove(old)
			delete(k.m, old.Value.(*keyedEntry).key)
		}
		e = k.ll.PushFront(&keyedEntry{key: key, lim: rate.NewLimiter(k.every, k.burst)})
		k.m[key] = e
	}
	lim := e.Value.(*keyedEntry).lim
	if lim.AllowN(now, 1) {
		return true, 0
	}
	return k.left(lim, now)
}

func (k *keyedLimiter) left(lim *rate.Limiter, now time.Time) (bool, time.Duration) {
	t := lim.TokensAt(now)
	if t >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - t) / float64(k.every) * float64(time.Second))
}

// len is the number of keys held.
func (k *keyedLimiter) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ll.Len()
}

// recentSet remembers keys for ttl, at most max (the least recently added
// goes first).
type recentSet struct {
	ttl time.Duration
	max int

	mu sync.Mutex
	ll *list.List // of *recentEntry, newest first
	m  map[string]*list.Element
}

type recentEntry struct {
	key     string
	expires time.Time
}

func newRecentSet(ttl time.Duration, max int) *recentSet {
	return &recentSet{ttl: ttl, max: max, ll: list.New(), m: map[string]*list.Element{}}
}

func (rs *recentSet) add(key string, now time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if e, ok := rs.m[key]; ok {
		e.Value.(*recentEntry).expires = now.Add(rs.ttl)
		rs.ll.MoveToFront(e)
		return
	}
	if rs.ll.Len() >= rs.max {
		old := rs.ll.Back()
		rs.ll.Remove(old)
		delete(rs.m, old.Value.(*recentEntry).key)
	}
	rs.m[key] = rs.ll.PushFront(&recentEntry{key: key, expires: now.Add(rs.ttl)})
}

func (rs *recentSet) has(key string, now time.Time) bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	e, ok := rs.m[key]
	return ok && now.Before(e.Value.(*recentEntry).expires)
}

// addrKey is what the limits count a client by: its IPv4 address, or the
// /64 of its IPv6 address (one subscriber's usual share), from an
// http.Request's RemoteAddr.
func addrKey(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
