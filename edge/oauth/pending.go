package oauth

import (
	"fmt"
	"sync"
	"time"
)

// Limits of sign-ins in progress.
const (
	pendingTTL = 10 * time.Minute
	// maxFinished bounds the finished-once set; only sign-ins that got
	// past the password or the upstream provider enter it.
	maxFinished = 10000
)

// Purposes of sealed values (the AEAD's additional data).
const (
	sealLogin    = "airlock login v1"    // the login form's req field and the upstream link
	sealUpstream = "airlock upstream v1" // the state sent to the upstream provider
)

// pending is a sign-in in progress in a browser: an authorization request
// of the daemon, or a device code being approved or denied. It is never
// stored on the server: it travels sealed (see [sealer]) in the login
// page's req field and in the upstream provider's state, so that no
// number of unauthenticated requests can fill the server or crowd out a
// real sign-in.
type pending struct {
	ID      string `json:"i"`
	Browser string `json:"b"` // the airlock_browser cookie it is bound to
	Expires int64  `json:"e"` // Unix seconds

	// An authorization request (DeviceKey == "").
	RedirectURI string   `json:"r,omitempty"`
	State       string   `json:"s,omitempty"`
	Challenge   string   `json:"c,omitempty"`
	Audience    []string `json:"a,omitempty"`  // the apps asked for (none: every app)
	ClientNonce string   `json:"cn,omitempty"` // the OpenID Connect nonce, for the ID token

	// A device authorization: the store key of its device code, its user
	// code, and whether the person asked to deny it (after signing in).
	DeviceKey string `json:"d,omitempty"`
	UserCode  string `json:"u,omitempty"`
	Deny      bool   `json:"x,omitempty"`

	// The upstream OIDC leg: the provider's name, its nonce and PKCE
	// verifier.
	Provider string `json:"p,omitempty"`
	Nonce    string `json:"n,omitempty"`
	Verifier string `json:"v,omitempty"`
}

func (p *pending) isDevice() bool { return p.DeviceKey != "" }

func (p *pending) live(now time.Time) bool { return now.Before(time.Unix(p.Expires, 0)) }

// sealPending gives p an id and an expiry and seals it for the login page.
// A request too large to travel in one form field is refused.
func (s *Server) sealPending(p *pending, now time.Time) (string, error) {
	p.ID = newSecret("")[:22]
	p.Expires = now.Add(pendingTTL).Unix()
	return s.sealBounded(sealLogin, p)
}

func (s *Server) sealBounded(purpose string, p *pending) (string, error) {
	v, err := s.seal.seal(purpose, p)
	if err != nil {
		return "", err
	}
	if len(v) > maxParamLen {
		return "", fmt.Errorf("the sign-in request is too large to carry (%d bytes sealed, at most %d): use a shorter state and redirect_uri, or ask for fewer apps", len(v), maxParamLen)
	}
	return v, nil
}

// openPending opens a sealed sign-in that is still live.
func (s *Server) openPending(purpose, sealed string, now time.Time) (pending, bool) {
	var p pending
	if sealed == "" || s.seal.open(purpose, sealed, &p) != nil || !p.live(now) || p.ID == "" {
		return pending{}, false
	}
	return p, true
}

// finishedSet remembers the sign-ins that finished, until they expire, so
// that each finishes once (a resubmitted form or a replayed upstream
// answer is refused). Only sign-ins that passed the password check or the
// upstream provider enter it.
type finishedSet struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func newFinishedSet() *finishedSet { return &finishedSet{m: map[string]time.Time{}} }

// first reports whether id finishes for the first time. A full set (after
// dropping what expired) does not record id: the one-time codes and the
// device records' status still make each sign-in count once.
func (fs *finishedSet) first(id string, expires, now time.Time) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.m[id]; ok {
		return false
	}
	if len(fs.m) >= maxFinished {
		fs.purgeLocked(now)
		if len(fs.m) >= maxFinished {
			return true
		}
	}
	fs.m[id] = expires
	return true
}

func (fs *finishedSet) purge(now time.Time) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.purgeLocked(now)
}

func (fs *finishedSet) purgeLocked(now time.Time) {
	for id, exp := range fs.m {
		if !now.Before(exp) {
			delete(fs.m, id)
		}
	}
}
