package edge

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// MintOptions are the contents of a service token.
type MintOptions struct {
	App    string        // the app hostname (the token's audience); must be in the config
	Email  string        // the identity the policy checks
	Groups []string      // optional
	TTL    time.Duration // default tokens.service_ttl; at most tokens.max_service_ttl
}

// MintToken signs a service token with the config's first signing key.
func MintToken(configPath string, opts MintOptions) (string, error) {
	cfg, err := LoadConfig(configPath)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return cfg.MintToken(opts)
}

// MintToken signs a service token with the config's first signing key.
func (c *Config) MintToken(opts MintOptions) (string, error) {
	if err := checkEmail(opts.Email); err != nil {
		return "", fmt.Errorf("mint token: --email: %w", err)
	}
	if !slices.ContainsFunc(c.Apps, func(a App) bool { return strings.EqualFold(a.Hostname, opts.App) }) {
		var have []string
		for _, a := range c.Apps {
			have = append(have, a.Hostname)
		}
		return "", fmt.Errorf("mint token: no app %q in the edge config (apps: %s)", opts.App, strings.Join(have, ", "))
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = time.Duration(c.Tokens.ServiceTTL)
	}
	if ttl < 0 || ttl > time.Duration(c.Tokens.MaxServiceTTL) {
		return "", fmt.Errorf("mint token: --ttl %s is outside (0, %s] (tokens.max_service_ttl)", ttl, time.Duration(c.Tokens.MaxServiceTTL))
	}
	s, err := c.Signer()
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	return s.Mint(token.KindService, strings.ToLower(opts.App), opts.Email, opts.Groups, ttl)
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
