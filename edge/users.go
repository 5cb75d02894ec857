package edge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/atomicfile"
	"github.com/airlockhq/airlock/internal/token"

	"gopkg.in/yaml.v3"
)

// SetUser adds a user to the built-in list of the config at path, or
// replaces the entry with the same email; it reports whether the user is
// new. The file keeps its comments; a running edge picks it up when it
// reloads (on change, or SIGHUP).
func SetUser(path string, u oauth.User) (added bool, err error) {
	if err := oauth.CheckEmail(u.Email); err != nil {
		return false, fmt.Errorf("user: %w", err)
	}
	u.Email = strings.ToLower(u.Email)
	err = editConfigDoc(path, func(root *yaml.Node) error {
		n, err := encodeNode(u)
		if err != nil {
			return err
		}
		added = upsertByEmail(root, "users", u.Email, n)
		return nil
	})
	return added, err
}

// RemoveUser removes a user from the built-in list: their access tokens
// are refused on their next stream and their refresh tokens stop working;
// the recorded service tokens of their email are marked revoked (see
// [ServiceToken]) and refused too.
func RemoveUser(path, email string) error {
	at := time.Now()
	return editConfigDoc(path, func(root *yaml.Node) error {
		seq := mappingValue(root, "users")
		if seq == nil || seq.Kind != yaml.SequenceNode {
			return fmt.Errorf("user %s: the config has no users", email)
		}
		for i, item := range seq.Content {
			if strings.EqualFold(scalarValue(item, "email"), email) {
				seq.Content = append(seq.Content[:i], seq.Content[i+1:]...)
				return revokeTokensOf(root, email, at, RevokedByUserRemove)
			}
		}
		return fmt.Errorf("user %s is not in the config's users", email)
	})
}

// RevokeUser records that every token of email issued before at is
// refused (config "revocations"): the running edge, on reload, revokes
// the user's refresh token families and refuses their access and service
// tokens on the next stream; the recorded service tokens of email are
// marked revoked too. It works for built-in and upstream users alike.
func RevokeUser(path, email string, at time.Time) error {
	if err := oauth.CheckEmail(email); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	r := oauth.Revocation{Email: strings.ToLower(email), Before: at.UTC()}
	return editConfigDoc(path, func(root *yaml.Node) error {
		n, err := encodeNode(r)
		if err != nil {
			return err
		}
		upsertByEmail(root, "revocations", r.Email, n)
		return revokeTokensOf(root, r.Email, at, RevokedByUserRevoke)
	})
}

// RotateKey makes a new Ed25519 signing key, writes it beside the config
// and puts it first in tokens.signing_keys, keeping the others: the new
// key signs, the old ones still verify the tokens they signed. Remove an
// old key from the config once its tokens have expired. It returns the
// new key id.
func RotateKey(path string) (string, error) {
	kid, key, err := token.GenerateKey()
	if err != nil {
		return "", err
	}
	pemBytes, err := token.MarshalPrivateKey(key)
	if err != nil {
		return "", err
	}
	file := "signing-" + kid + ".pem"
	full := filepath.Join(filepath.Dir(path), file)
	if err := atomicfile.Write(full, pemBytes, 0o600); err != nil {
		return "", err
	}
	err = editConfigDoc(path, func(root *yaml.Node) error {
		tokens := mappingValue(root, "tokens")
		if tokens == nil || tokens.Kind != yaml.MappingNode {
			return errors.New("the config has no tokens section")
		}
		keys := mappingValue(tokens, "signing_keys")
		if keys == nil || keys.Kind != yaml.SequenceNode {
			return errors.New("the config has no tokens.signing_keys list")
		}
		n, err := encodeNode(SigningKey{ID: kid, File: file})
		if err != nil {
			return err
		}
		keys.Content = append([]*yaml.Node{n}, keys.Content...)
		return nil
	})
	if err != nil {
		os.Remove(full)
		return "", err
	}
	return kid, nil
}

// editConfigDoc edits the YAML document of the config at path in place
// (comments kept), under the config lock, validates the result and
// writes it atomically; on any error nothing changes.
func editConfigDoc(path string, edit func(root *yaml.Node) error) error {
	unlock, err := lockConfig(path)
	if err != nil {
		return err
	}
	defer unlock()
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read edge config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("edge config %s: %w", path, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("edge config %s: the top level is not a mapping", path)
	}
	if err := edit(doc.Content[0]); err != nil {
		return err
	}
	out, err := encodeYAML(&doc)
	if err != nil {
		return err
	}
	if _, err := ParseConfig(out, filepath.Dir(path)); err != nil {
		return fmt.Errorf("the edited config would not validate: %w", err)
	}
	return writeConfig(path, out)
}

// mappingValue returns the value of key in mapping m (nil if absent).
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalarValue(m *yaml.Node, key string) string {
	if m.Kind != yaml.MappingNode {
		return ""
	}
	if v := mappingValue(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// upsertByEmail replaces the item of the list under key whose email is
// email, or appends n; it reports whether it appended.
func upsertByEmail(root *yaml.Node, key, email string, n *yaml.Node) bool {
	seq := mappingValue(root, key)
	if seq != nil && seq.Kind == yaml.SequenceNode {
		for i, item := range seq.Content {
			if strings.EqualFold(scalarValue(item, "email"), email) {
				n.HeadComment = item.HeadComment
				seq.Content[i] = n
				return false
			}
		}
	}
	appendItems(root, key, []*yaml.Node{n}) //nolint:errcheck // a non-list is caught by validation
	return true
}
