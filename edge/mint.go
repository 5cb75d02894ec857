package edge

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
	"gopkg.in/yaml.v3"
)

// MintOptions are the contents of a service token.
type MintOptions struct {
	App    string        // the app hostname (the token's audience); must be in the config
	Email  string        // the identity the policy checks
	Groups []string      // optional
	TTL    time.Duration // default tokens.service_ttl; at most tokens.max_service_ttl
	Note   string        // optional: what the token is for, shown by `token list`
}

// MintToken signs a service token with the config's first signing key and
// records it under service_tokens of the config at configPath (its id,
// app, email, groups, note and expiry; never the token), so that `token
// list` shows it and `token revoke`, `user revoke` and `user remove` can
// refuse it at a running edge. Records of expired tokens are dropped in
// the same edit. With store:, the signing key is published to the
// fleet's store first (the edge may not have reloaded since a `key
// rotate`), so every edge verifies the token. The token is returned only once its record is written.
func MintToken(configPath string, opts MintOptions) (string, ServiceToken, error) {
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return "", ServiceToken{}, fmt.Errorf("mint token: %w", err)
	}
	if cfg.Store != nil {
		if err := publishSigningKey(context.Background(), cfg); err != nil {
			return "", ServiceToken{}, fmt.Errorf("mint token: %w", err)
		}
	}
	tok, rec, err := cfg.mint(opts, time.Now())
	if err != nil {
		return "", ServiceToken{}, err
	}
	err = editConfigDoc(configPath, func(root *yaml.Node) error {
		if err := editServiceTokens(root, rec.Issued, nil); err != nil {
			return err
		}
		n, err := encodeNode(rec)
		if err != nil {
			return err
		}
		return appendItems(root, "service_tokens", []*yaml.Node{n})
	})
	if err != nil {
		return "", ServiceToken{}, fmt.Errorf("mint token: record it: %w", err)
	}
	return tok, rec, nil
}

// mint signs a service token issued at now and returns it with its record.
func (c *Config) mint(opts MintOptions, now time.Time) (string, ServiceToken, error) {
	if err := checkEmail(opts.Email); err != nil {
		return "", ServiceToken{}, fmt.Errorf("mint token: --email: %w", err)
	}
	if len(opts.Note) > maxNote {
		return "", ServiceToken{}, fmt.Errorf("mint token: --note is %d bytes, limit %d", len(opts.Note), maxNote)
	}
	if !slices.ContainsFunc(c.Apps, func(a App) bool { return strings.EqualFold(a.Hostname, opts.App) }) {
		var have []string
		for _, a := range c.Apps {
			have = append(have, a.Hostname)
		}
		return "", ServiceToken{}, fmt.Errorf("mint token: no app %q in the edge config (apps: %s)", opts.App, strings.Join(have, ", "))
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = time.Duration(c.Tokens.ServiceTTL)
	}
	if ttl < 0 || ttl > time.Duration(c.Tokens.MaxServiceTTL) {
		return "", ServiceToken{}, fmt.Errorf("mint token: --ttl %s is outside (0, %s] (tokens.max_service_ttl)", ttl, time.Duration(c.Tokens.MaxServiceTTL))
	}
	s, err := c.Signer()
	if err != nil {
		return "", ServiceToken{}, fmt.Errorf("mint token: %w", err)
	}
	now = now.UTC().Truncate(time.Second) // iat and exp are whole seconds
	rec := ServiceToken{
		ID: rand.Text(), App: strings.ToLower(opts.App), Email: strings.ToLower(opts.Email), Groups: opts.Groups,
		Note: opts.Note, Issued: now, Expires: now.Add(ttl).Truncate(time.Second),
	}
	tok, err := s.Sign(token.Claims{
		ID: rec.ID, Subject: rec.Email, Email: rec.Email, Groups: rec.Groups, Audience: []string{rec.App},
		IssuedAt: rec.Issued, NotBefore: rec.Issued, ExpiresAt: rec.Expires, Kind: token.KindService,
	})
	if err != nil {
		return "", ServiceToken{}, fmt.Errorf("mint token: %w", err)
	}
	return tok, rec, nil
}

// Signer loads the first signing key.
func (c *Config) Signer() (*token.Signer, error) {
	k := c.Tokens.SigningKeys[0]
	key, err := c.loadSigningKey(0)
	if err != nil {
		return nil, err
	}
	return token.NewSigner(k.ID, key, c.Tokens.Issuer)
}

// PublicKeys loads every signing key and returns the public halves.
func (c *Config) PublicKeys() ([]wire.PublicKey, error) {
	out := make([]wire.PublicKey, 0, len(c.Tokens.SigningKeys))
	for i, k := range c.Tokens.SigningKeys {
		key, err := c.loadSigningKey(i)
		if err != nil {
			return nil, err
		}
		out = append(out, wire.PublicKey{ID: k.ID, Key: key.Public().(ed25519.PublicKey)})
	}
	return out, nil
}

func (c *Config) loadSigningKey(i int) (ed25519.PrivateKey, error) {
	k := c.Tokens.SigningKeys[i]
	b, err := os.ReadFile(c.Path(k.File))
	if err != nil {
		return nil, fmt.Errorf("tokens.signing_keys[%d]: %w", i, err)
	}
	key, err := token.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("tokens.signing_keys[%d] (%s): %w", i, c.Path(k.File), err)
	}
	return key, nil
}

// publishSigningKey publishes the key cfg signs with to the fleet's store
// of cfg's store: section, as a signing key and nothing else: the keys the
// running edge retires it publishes at its reload.
func publishSigningKey(ctx context.Context, cfg *Config) error {
	o, err := cfg.StoreOptions(slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	st, err := postgres.Open(ctx, o)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer st.Close()
	s, err := cfg.Signer()
	if err != nil {
		return err
	}
	if err := st.PublishKeys(ctx, s.PublicKey(), nil, time.Now(), retiredKeep(cfg)); err != nil {
		return fmt.Errorf("tokens.signing_keys: publish to the store (nothing is signed with a key the fleet does not know): %w", err)
	}
	return nil
}
