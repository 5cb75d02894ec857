package edge

import (
	"fmt"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/token"
	"gopkg.in/yaml.v3"
)

// ServiceToken is the record of one minted service token (config
// "service_tokens"; never the token itself). [MintToken] adds it;
// [RevokeToken], [RevokeUser] and [RemoveUser] mark it revoked, and a
// running edge refuses a revoked token on its next stream. A record is
// dropped at the next edit of the list once its token has expired (past
// tokens.leeway), so the list and the edge's deny set stay bounded.
type ServiceToken struct {
	ID     string   `yaml:"id"` // the token's "jti"
	App    string   `yaml:"app"`
	Email  string   `yaml:"email"` // also the subject
	Groups []string `yaml:"groups,omitempty"`
	// Note says what the token is for (`token mint --note`).
	Note    string    `yaml:"note,omitempty"`
	Issued  time.Time `yaml:"issued"`
	Expires time.Time `yaml:"expires"`
	// Revoked is when the token was revoked (zero: it is live), and
	// RevokedBy the command that did it (RevokedBy… constants).
	Revoked   time.Time `yaml:"revoked,omitempty"`
	RevokedBy string    `yaml:"revoked_by,omitempty"`
}

// What revoked a [ServiceToken] (its RevokedBy).
const (
	RevokedByTokenRevoke = "token revoke"
	RevokedByUserRevoke  = "user revoke"
	RevokedByUserRemove  = "user remove"
)

// maxNote bounds a service token's note.
const maxNote = 200

func (c *Config) validateServiceTokens(v *validator) {
	ids := map[string]bool{}
	for i, t := range c.ServiceTokens {
		f := fmt.Sprintf("service_tokens[%d]", i)
		if v.required(f+".id", t.ID) {
			if ids[t.ID] {
				v.add(f+".id", fmt.Sprintf("%q appears twice", t.ID))
			}
			ids[t.ID] = true
		}
		v.required(f+".app", t.App)
		if err := checkEmail(t.Email); err != nil {
			v.add(f+".email", err.Error())
		}
		if t.Expires.IsZero() {
			v.add(f+".expires", "is required (an RFC 3339 time)")
		}
		if len(t.Note) > maxNote {
			v.add(f+".note", fmt.Sprintf("is %d bytes, limit %d", len(t.Note), maxNote))
		}
		if t.Revoked.IsZero() != (t.RevokedBy == "") {
			v.add(f+".revoked_by", "is set exactly when revoked is")
		}
	}
}

// ListTokens returns the service token records of the config at path, in
// the order they were minted. Expired ones are listed until the next edit
// of the list drops them.
func ListTokens(path string) ([]ServiceToken, error) {
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return cfg.ServiceTokens, nil
}

// RevokeToken marks the service token id revoked at at in the config at
// path: a running edge refuses it on its next stream, once it has
// reloaded (on the file's change). It returns the record and whether
// this call revoked it: one revoked before keeps its first revocation.
// The record of a token that has expired is dropped with the other
// expired ones.
func RevokeToken(path, id string, at time.Time) (rec ServiceToken, revoked bool, err error) {
	found := false
	err = editConfigDoc(path, func(root *yaml.Node) error {
		return editServiceTokens(root, at, func(t *ServiceToken) bool {
			if t.ID != id {
				return false
			}
			found = true
			revoked = t.Revoked.IsZero()
			if revoked {
				t.Revoked, t.RevokedBy = at.UTC().Truncate(time.Second), RevokedByTokenRevoke
			}
			rec = *t
			return revoked
		})
	})
	if err != nil {
		return ServiceToken{}, false, fmt.Errorf("revoke token: %w", err)
	}
	if !found {
		return ServiceToken{}, false, fmt.Errorf("revoke token: no service token %q in %s (airlock-edge token list shows them; for a token minted before tokens were recorded, revoke its user with airlock-edge user revoke EMAIL)", id, path)
	}
	return rec, revoked, nil
}

// revokeTokensOf marks every live service token of email revoked at at,
// by the command by, in the config document root.
func revokeTokensOf(root *yaml.Node, email string, at time.Time, by string) error {
	return editServiceTokens(root, at, func(t *ServiceToken) bool {
		if !strings.EqualFold(t.Email, email) || !t.Revoked.IsZero() {
			return false
		}
		t.Revoked, t.RevokedBy = at.UTC().Truncate(time.Second), by
		return true
	})
}

// editServiceTokens passes every record of the service_tokens list of the
// config document root to edit (nil: none), re-encodes those it reports
// changed, and drops the records whose token has expired at now, past the
// config's leeway. An item that does not decode is left for validation to
// name.
func editServiceTokens(root *yaml.Node, now time.Time, edit func(*ServiceToken) bool) error {
	seq := mappingValue(root, "service_tokens")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	leeway := docLeeway(root)
	kept := seq.Content[:0]
	for _, item := range seq.Content {
		var t ServiceToken
		if err := item.Decode(&t); err != nil {
			kept = append(kept, item)
			continue
		}
		if edit != nil && edit(&t) {
			n, err := encodeNode(t)
			if err != nil {
				return err
			}
			n.HeadComment, n.LineComment, n.FootComment = item.HeadComment, item.LineComment, item.FootComment
			item = n
		}
		if now.After(t.Expires.Add(leeway)) {
			continue
		}
		kept = append(kept, item)
	}
	clear(seq.Content[len(kept):])
	seq.Content = kept
	return nil
}

// docLeeway is tokens.leeway of the config document root (default
// token.DefaultLeeway; negative: none).
func docLeeway(root *yaml.Node) time.Duration {
	d := token.DefaultLeeway
	if t := mappingValue(root, "tokens"); t != nil {
		if v, err := time.ParseDuration(scalarValue(t, "leeway")); err == nil && v != 0 {
			d = v
		}
	}
	return max(d, 0)
}
