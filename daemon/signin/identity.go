package signin

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/keychain"
)

// identity is who an access token says the user is: its subject and email,
// for display and this comparison only (the edge verifies tokens).
type identity struct{ subject, email string }

// name is how the user is shown: the email, else the subject.
func (i identity) name() string {
	if i.email != "" {
		return i.email
	}
	return i.subject
}

// differs says whether two known identities are different users: by
// subject when both have one, else by name (emails ignore case).
func (i identity) differs(j identity) bool {
	if i.name() == "" || j.name() == "" {
		return false
	}
	if i.subject != "" && j.subject != "" {
		return i.subject != j.subject
	}
	return !strings.EqualFold(i.name(), j.name())
}

// identityOf reads the identity of an access token.
func identityOf(at *accessToken) identity {
	c, err := peekClaims(at.raw)
	if err != nil {
		return identity{email: at.email}
	}
	return identity{subject: c.Subject, email: c.Email}
}

// previousIdentity is who was signed in at the edge before this flight:
// the last sign-in of this daemon, else the one the stored refresh token
// belongs to (its email), else nobody.
func (e *edgeState) previousIdentity(ctx context.Context) identity {
	e.mu.Lock()
	id, known := e.identity, e.identityKnown
	e.mu.Unlock()
	if known {
		return id
	}
	v, err := e.m.store.Get(ctx, e.key)
	switch {
	case errors.Is(err, keychain.ErrNotFound):
	case err != nil:
		return identity{} // unknown this time; the next flight asks again
	default:
		if s, err := decodeStored(v); err == nil && s.AuthURL == e.authURL {
			id = identity{email: s.Email}
		}
	}
	e.mu.Lock()
	if !e.identityKnown {
		e.identity, e.identityKnown = id, true
	}
	e.mu.Unlock()
	return id
}

// noteIdentity records who a completed sign-in is and, when that is a
// different user than before, says so: a warning in the log, the
// notifier, and IdentityChanged in the edge's status. A sign-in that comes
// back as someone else may be another person's sign-in delivered to this
// daemon (login CSRF), after which the user's traffic is theirs.
func (e *edgeState) noteIdentity(ctx context.Context, prev identity, at *accessToken) {
	cur := identityOf(at)
	e.mu.Lock()
	e.identity, e.identityKnown = cur, true
	var ch *apitype.IdentityChange
	if prev.differs(cur) {
		ch = &apitype.IdentityChange{From: prev.name(), To: cur.name(), Time: time.Now().UTC()}
		e.identityChange = ch
	}
	e.mu.Unlock()
	if ch == nil {
		return
	}
	e.log.Warn("signed in as a different user than before at this edge; if you did not switch accounts yourself, run `airlock logout` and sign in again",
		"was", ch.From, "now", ch.To)
	c := *ch
	e.m.notifier.Notify(ctx, Notice{Edge: e.name, Apps: e.audience, IdentityChange: &c})
	e.m.changedNow()
}

// forgetIdentity is a logout's: who was signed in no longer counts.
func (e *edgeState) forgetIdentity() {
	e.mu.Lock()
	e.identity, e.identityKnown, e.identityChange = identity{}, true, nil
	e.mu.Unlock()
}
