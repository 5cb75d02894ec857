package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Cluster credentials: a person's identity for one Kubernetes API server
// that trusts the edge as its OpenID Connect issuer (structured
// authentication, a JWT authenticator). They are another kind of token
// than access tokens and never open a stream: they are signed with ES256
// (kube-apiserver's JWT authenticator accepts RS*, ES* and PS* but not
// EdDSA), so [Verifier.Verify] refuses them by algorithm before anything
// else, their kind is [KindCluster], which it refuses too, and their
// audience is the cluster's, never an app hostname.
const (
	// KindCluster is the "kind" claim of a cluster credential.
	KindCluster Kind = "kubernetes"
	// ClusterType is the "typ" header of a cluster credential.
	ClusterType = "JWT"
	// clusterKeyInfo labels the derivation of the ES256 key.
	clusterKeyInfo = "airlock cluster credential ES256 v1"
)

// ClusterClaims are the claims of a cluster credential.
type ClusterClaims struct {
	// Issuer is the edge's public sign-in URL, the issuer.url the API
	// server is configured with.
	Issuer string
	// Audience is the cluster's audience alone.
	Audience            string
	Subject, Email      string
	Groups              []string
	IssuedAt, ExpiresAt time.Time
}

type clusterJWT struct {
	jwt.RegisteredClaims
	Email  string   `json:"email,omitempty"`
	Groups []string `json:"groups"`
	Kind   Kind     `json:"kind"`
}

// ClusterSigner signs cluster credentials with one P-256 key.
type ClusterSigner struct {
	kid string
	key *ecdsa.PrivateKey
}

// ClusterSigner returns the signer of cluster credentials that belongs to
// s: its P-256 key is derived (HKDF-SHA256) from s's Ed25519 seed, so every
// edge that signs with the same key signs cluster credentials with the
// same key too, and a key rotation rotates both.
func (s *Signer) ClusterSigner() (*ClusterSigner, error) {
	return ClusterSignerFor(s.key)
}

// ClusterSignerFor returns the signer of cluster credentials that belongs
// to the Ed25519 signing key seed (see [Signer.ClusterSigner]): the edge
// publishes those of every signing key it holds, so a credential signed
// before a rotation verifies until it expires.
func ClusterSignerFor(seed ed25519.PrivateKey) (*ClusterSigner, error) {
	if len(seed) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("derive the cluster credential key: signing key is %d bytes, want %d", len(seed), ed25519.PrivateKeySize)
	}
	// A scalar at or above the group order is refused by ParseRawPrivateKey
	// (probability ~2^-32 each); the next counter gives another.
	for i := range byte(16) {
		d, err := hkdf.Key(sha256.New, seed.Seed(), []byte{i}, clusterKeyInfo, 32)
		if err != nil {
			return nil, fmt.Errorf("derive the cluster credential key: %w", err)
		}
		key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			continue
		}
		pub, err := key.PublicKey.Bytes()
		if err != nil {
			return nil, fmt.Errorf("derive the cluster credential key: %w", err)
		}
		sum := sha256.Sum256(pub)
		return &ClusterSigner{kid: "es-" + base64.RawURLEncoding.EncodeToString(sum[:12]), key: key}, nil
	}
	return nil, errors.New("derive the cluster credential key: no valid scalar")
}

// KeyID is the "kid" of the signer's credentials.
func (s *ClusterSigner) KeyID() string { return s.kid }

// PublicKey is the key that verifies the signer's credentials.
func (s *ClusterSigner) PublicKey() *ecdsa.PublicKey { return &s.key.PublicKey }

// Sign signs c as a cluster credential with a random jti; nbf is iat.
func (s *ClusterSigner) Sign(c ClusterClaims) (string, error) {
	switch {
	case c.Issuer == "":
		return "", fmt.Errorf("sign cluster credential: %w: no issuer", ErrMissingClaim)
	case c.Audience == "":
		return "", fmt.Errorf("sign cluster credential: %w: no audience", ErrMissingClaim)
	case c.Subject == "" || c.Email == "":
		return "", fmt.Errorf("sign cluster credential: %w: subject and email are required", ErrMissingClaim)
	case !c.ExpiresAt.After(c.IssuedAt):
		return "", fmt.Errorf("sign cluster credential: %w: expiry not after issue", ErrMissingClaim)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sign cluster credential: %w", err)
	}
	groups := c.Groups
	if groups == nil {
		groups = []string{}
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, &clusterJWT{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: c.Issuer, Subject: c.Subject, Audience: jwt.ClaimStrings{c.Audience},
			ID:       base64.RawURLEncoding.EncodeToString(b[:]),
			IssuedAt: jwt.NewNumericDate(c.IssuedAt), NotBefore: jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
		Email: c.Email, Groups: groups, Kind: KindCluster,
	})
	t.Header["kid"] = s.kid
	t.Header["typ"] = ClusterType
	out, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("sign cluster credential: %w", err)
	}
	return out, nil
}

// SignJSON signs payload, a JSON object of claims, as a JWT with the
// cluster key (ES256, kid and typ JWT headers): how the edge signs its
// OpenID Connect ID tokens, which another library builds.
func (s *ClusterSigner) SignJSON(payload []byte) (string, error) {
	opts := (&jose.SignerOptions{}).WithType(ClusterType).WithHeader(jose.HeaderKey("kid"), s.kid)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: s.key}, opts)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	obj, err := sig.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return obj.CompactSerialize()
}
