package oauth

import (
	"sync"
	"time"
)

// Failed-password limits: per user at one address, and per address.
const (
	limitWindow  = 10 * time.Minute
	limitPerUser = 5
	limitPerIP   = 30
	maxLimitKeys = 100000
)

// limiter counts failed sign-ins in fixed windows.
type limiter struct {
	mu sync.Mutex
	m  map[string]*window
}

type window struct {
	n     int
	reset time.Time
}

func newLimiter() *limiter { return &limiter{m: map[string]*window{}} }

// blocked reports whether key has used up its failures, and until when.
func (l *limiter) blocked(key string, max int, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[key]
	if !ok || !now.Before(w.reset) {
		return false, time.Time{}
	}
	return w.n >= max, w.reset
}

// fail counts a failure of key.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.m[key]
	if !ok || !now.Before(w.reset) {
		if len(l.m) >= maxLimitKeys {
			l.purgeLocked(now)
		}
		w = &window{reset: now.Add(limitWindow)}
		l.m[key] = w
	}
	w.n++
}

func (l *limiter) purge(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.purgeLocked(now)
}

func (l *limiter) purgeLocked(now time.Time) {
	for k, w := range l.m {
		if !now.Before(w.reset) {
			delete(l.m, k)
		}
	}
}
