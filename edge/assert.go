package edge

import (
	"crypto/ed25519"
	"fmt"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// assertionSigner returns the signer of the stream assertions the edge
// sends connectors under cfg: prev, the one that signed until now, while
// its key is still configured, so that a key added by rotation signs
// assertions only from the next start, once every connector holds it (a
// connector learns a new key from a Keys frame that may arrive after the
// first stream signed with it); else the first signing key.
func assertionSigner(cfg *Config, prev *token.Signer) (*token.Signer, error) {
	if prev != nil {
		pk := prev.PublicKey()
		for i, k := range cfg.Tokens.SigningKeys {
			if k.ID != pk.ID {
				continue
			}
			key, err := cfg.loadSigningKey(i)
			if err != nil {
				return nil, err
			}
			if key.Public().(ed25519.PublicKey).Equal(pk.Key) {
				return prev, nil
			}
		}
	}
	key, err := cfg.loadSigningKey(0)
	if err != nil {
		return nil, err
	}
	s, err := token.NewSigner(cfg.Tokens.SigningKeys[0].ID, key, cfg.Tokens.Issuer)
	if err != nil {
		return nil, fmt.Errorf("tokens.signing_keys[0]: %w", err)
	}
	return s, nil
}

// streamAssertion signs what the edge verified on a stream for the
// connector of the route's tunnel: the identity in claims, bound to the
// tunnel, the app and the stream, for seconds, with a nonce of its own
// (each attempt on another connection gets a new one). The user's token
// itself never goes to a connector.
func (s *Server) streamAssertion(rt *route, claims *token.Claims, streamID string) (string, error) {
	a, err := s.signer.Load().Assert(token.Assertion{
		TunnelID: rt.tunnel.id, App: rt.app, StreamID: streamID,
		Subject: claims.Subject, Email: claims.Email, Groups: claims.Groups, Kind: claims.Kind,
	}, token.DefaultAssertionTTL)
	if err != nil {
		return "", wire.Errorf(wire.CodeInternal, "signing the stream assertion: %v", err)
	}
	return a, nil
}
