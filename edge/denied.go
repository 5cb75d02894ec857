package edge

import (
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// deniedTokens is the per-stream revocation check of service tokens,
// compiled with the snapshot from the config: the revoked records of
// service_tokens by id, and the revocations by email (which reach tokens
// without a record too: minted before tokens were recorded, or signed by
// hand). It is immutable; a reload builds a new one.
type deniedTokens struct {
	ids       map[string]deniedID  // jti → when and by which command
	notBefore map[string]time.Time // lower-case email → its service tokens issued before are refused
}

type deniedID struct {
	at time.Time
	by string
}

// compileDenied builds the deny set of cfg at now. A revoked token that
// has expired (past the leeway) is left out: the verifier refuses it, so
// the set holds only tokens that could still pass.
func compileDenied(cfg *Config, now time.Time) *deniedTokens {
	d := &deniedTokens{}
	leeway := max(time.Duration(cfg.Tokens.Leeway), 0)
	for _, t := range cfg.ServiceTokens {
		if t.Revoked.IsZero() || !now.Before(t.Expires.Add(leeway)) {
			continue
		}
		if d.ids == nil {
			d.ids = map[string]deniedID{}
		}
		d.ids[t.ID] = deniedID{at: t.Revoked, by: t.RevokedBy}
	}
	for _, r := range cfg.Revocations {
		e := strings.ToLower(r.Email)
		// Whole seconds, as iat is: a token minted in the second of the
		// revocation passes (its record, if it has one, says more).
		before := r.Before.Truncate(time.Second)
		if before.After(d.notBefore[e]) {
			if d.notBefore == nil {
				d.notBefore = map[string]time.Time{}
			}
			d.notBefore[e] = before
		}
	}
	return d
}

// check refuses a revoked service token with CodeUnauthenticated: the
// token no longer proves who holds it (a new one would), as opposed to
// CodeForbidden, an identity the policy refuses. The message names the
// token's id, its user, when and by which command; never the token.
func (d *deniedTokens) check(c *token.Claims) error {
	if d == nil {
		return nil
	}
	if len(d.ids) > 0 && c.ID != "" {
		if e, ok := d.ids[c.ID]; ok {
			return wire.Errorf(wire.CodeUnauthenticated, "service token %s of %s was revoked at %s (airlock-edge %s): mint a new one",
				c.ID, c.Email, e.at.UTC().Format(time.RFC3339), e.by)
		}
	}
	if len(d.notBefore) > 0 {
		if err := d.revokedUser(c.Email, c.EmailKey(), c.IssuedAt); err != nil {
			return err
		}
		if c.Subject != c.Email {
			return d.revokedUser(c.Subject, c.SubjectKey(), c.IssuedAt)
		}
	}
	return nil
}

// revokedUser refuses a token of who (key: who lower-cased, as the
// claims carry it from their verification) issued before who's
// revocation.
func (d *deniedTokens) revokedUser(who, key string, issued time.Time) error {
	if nb, ok := d.notBefore[key]; ok && issued.Before(nb) {
		return wire.Errorf(wire.CodeUnauthenticated, "the service tokens of %s issued before %s were revoked (airlock-edge user revoke): mint a new one",
			who, nb.UTC().Format(time.RFC3339))
	}
	return nil
}
