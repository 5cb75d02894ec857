package oauth

import (
	"sync"
	"time"
)

// Limits of the in-memory pending sign-ins.
const (
	pendingTTL = 10 * time.Minute
	maxPending = 10000
)

// pending is a sign-in in progress in a browser: an authorization request
// of the daemon, or a device code being approved.
type pending struct {
	id      string
	browser string // the airlock_browser cookie it is bound to
	expires time.Time

	// An authorization request (deviceKey == "").
	clientID, redirectURI, state, challenge string
	audience                                []string // the apps asked for (none: every app)
	// A device authorization: the store key of its device code.
	deviceKey, userCode string

	// The upstream OIDC leg: its state, nonce and PKCE verifier.
	upState, nonce, verifier string
}

func (p *pending) isDevice() bool { return p.deviceKey != "" }

// pendingSet holds pending sign-ins by id and by upstream state. They
// live only in this process: a sign-in started before an edge restart is
// started again.
type pendingSet struct {
	mu      sync.Mutex
	byID    map[string]*pending
	byState map[string]*pending
}

func newPendingSet() *pendingSet {
	return &pendingSet{byID: map[string]*pending{}, byState: map[string]*pending{}}
}

// add stores p under a new id; it reports false when too many sign-ins
// are pending.
func (ps *pendingSet) add(p *pending, now time.Time) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.byID) >= maxPending {
		ps.purgeLocked(now)
		if len(ps.byID) >= maxPending {
			return false
		}
	}
	p.id = newSecret("")
	p.expires = now.Add(pendingTTL)
	ps.byID[p.id] = p
	return true
}

// get returns a live pending sign-in (a copy).
func (ps *pendingSet) get(id string, now time.Time) (pending, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.byID[id]
	if !ok || !now.Before(p.expires) {
		return pending{}, false
	}
	return *p, true
}

// setUpstream records the upstream leg of a pending sign-in.
func (ps *pendingSet) setUpstream(id, upState, nonce, verifier string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.byID[id]
	if !ok {
		return false
	}
	if p.upState != "" {
		delete(ps.byState, p.upState)
	}
	p.upState, p.nonce, p.verifier = upState, nonce, verifier
	ps.byState[upState] = p
	return true
}

// byUpstream finds a pending sign-in by the state of its upstream leg.
func (ps *pendingSet) byUpstream(upState string, now time.Time) (pending, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.byState[upState]
	if !ok || !now.Before(p.expires) {
		return pending{}, false
	}
	return *p, true
}

// take removes a pending sign-in: each finishes once.
func (ps *pendingSet) take(id string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.byID[id]
	if !ok {
		return false
	}
	delete(ps.byID, id)
	delete(ps.byState, p.upState)
	return true
}

func (ps *pendingSet) purge(now time.Time) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.purgeLocked(now)
}

func (ps *pendingSet) purgeLocked(now time.Time) {
	for id, p := range ps.byID {
		if !now.Before(p.expires) {
			delete(ps.byID, id)
			delete(ps.byState, p.upState)
		}
	}
}
