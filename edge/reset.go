package edge

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/quic-go/quic-go"
)

// resetKeyInfo is the HKDF info of the QUIC stateless reset key, so that
// the secret in ResetKeyFile could serve other purposes under other labels.
const resetKeyInfo = "airlock-edge quic stateless reset key v1"

// statelessResetKey returns the QUIC stateless reset key of the edge whose
// state folder holds cfg: derived (HKDF-SHA256) from the secret in
// ResetKeyFile, which is created on first use when missing (a state made
// before it existed).
//
// With the same key across restarts, an edge that crashed and came back
// answers the packets of its old connections with a stateless reset, and
// their peers re-dial at once instead of waiting out the idle timeout.
// Edges behind one address (an L4 balancer) may share the file; the
// balancer must then keep each peer on one edge, as QUIC needs anyway.
func statelessResetKey(cfg *Config) (*quic.StatelessResetKey, error) {
	path := cfg.Path(ResetKeyFile)
	secret, err := readResetSecret(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err = createResetSecret(path); err == nil {
			secret, err = readResetSecret(path)
		}
	}
	if err != nil {
		return nil, err
	}
	b, err := hkdf.Key(sha256.New, secret, nil, resetKeyInfo, len(quic.StatelessResetKey{}))
	if err != nil {
		return nil, fmt.Errorf("derive the stateless reset key: %w", err)
	}
	var key quic.StatelessResetKey
	copy(key[:], b)
	return &key, nil
}

// resetSecretLen is the size of the secret in ResetKeyFile, in bytes.
const resetSecretLen = 32

func readResetSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("stateless reset key: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < resetSecretLen {
		return nil, fmt.Errorf("stateless reset key %s: want %d random bytes in hex on one line", path, resetSecretLen)
	}
	return secret, nil
}

// createResetSecret writes a new random secret to path unless a file is
// already there (another edge on the same state may have made it first).
func createResetSecret(path string) error {
	var secret [resetSecretLen]byte
	rand.Read(secret[:]) //nolint:errcheck // crypto/rand.Read does not fail
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("stateless reset key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.WriteString(hex.EncodeToString(secret[:]) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Link, unlike rename, never replaces a file that is there.
		if err = os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("stateless reset key: %w", err)
	}
	return nil
}

// newResetSecret returns the content of a new ResetKeyFile, for Init.
func newResetSecret() []byte {
	var secret [resetSecretLen]byte
	rand.Read(secret[:]) //nolint:errcheck // crypto/rand.Read does not fail
	return []byte(hex.EncodeToString(secret[:]) + "\n")
}
