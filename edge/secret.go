package edge

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// newTunnelSecret returns a random id (UUID v4 form) and a 32-byte secret
// (base64url) for a tunnel.
func newTunnelSecret() (id, secret string, err error) {
	var b [16 + 32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("generate tunnel secret: %w", err)
	}
	u := b[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	id = fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	return id, base64.RawURLEncoding.EncodeToString(b[16:]), nil
}

// HashSecret returns the hex SHA-256 of a tunnel secret, as the config keeps it.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func parseSecretHash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	if len(s) != 2*sha256.Size {
		return h, fmt.Errorf("must be %d hex digits (the sha256 of the secret), got %d characters", 2*sha256.Size, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("is not hex: %w", err)
	}
	return h, nil
}

// secretMatches compares a presented secret with a stored hash in constant time.
func secretMatches(secret string, hash [sha256.Size]byte) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], hash[:]) == 1
}
