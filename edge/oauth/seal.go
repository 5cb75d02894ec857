package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// sealer turns sign-in state into an opaque string that only the server
// holding its key can open and that nobody can alter (XChaCha20-Poly1305,
// a random 24-byte nonce per seal). The purpose is the AEAD's additional
// data, so a value sealed for one use does not open for another. It is
// how a sign-in in progress lives in the browser's page instead of in the
// server's memory.
type sealer struct {
	key [chacha20poly1305.KeySize]byte
}

// newSealer returns a sealer with a fresh random key: what it sealed does
// not open after a restart.
func newSealer() *sealer {
	s := &sealer{}
	rand.Read(s.key[:]) //nolint:errcheck // crypto/rand.Read does not fail
	return s
}

var errUnsealed = errors.New("the sealed value does not open (altered, from another purpose, or from before an edge restart)")

// seal returns v (JSON) sealed for purpose, base64url.
func (s *sealer) seal(purpose string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", purpose, err)
	}
	aead, _ := chacha20poly1305.NewX(s.key[:]) // the key size is right
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	rand.Read(out) //nolint:errcheck // crypto/rand.Read does not fail
	out = aead.Seal(out, out, plain, []byte(purpose))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open reverses seal into v; anything altered, truncated or sealed for
// another purpose is errUnsealed.
func (s *sealer) open(purpose, sealed string, v any) error {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(sealed)
	aead, _ := chacha20poly1305.NewX(s.key[:])
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return errUnsealed
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(purpose))
	if err != nil {
		return errUnsealed
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("%w: %v", errUnsealed, err)
	}
	return nil
}
