package signin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// storedVersion is the format of a stored sign-in.
const storedVersion = 1

// stored is what the keychain holds per edge: the refresh token and who it
// belongs to, well under the keychain's size limits.
type stored struct {
	Version      int    `json:"v"`
	AuthURL      string `json:"auth_url"`
	RefreshToken string `json:"refresh_token"`
	Email        string `json:"email,omitempty"`
}

// storeKey is an edge's key in the token store.
func storeKey(edge string) string { return "edge:" + edge }

func encodeStored(s stored) (string, error) {
	s.Version = storedVersion
	data, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// decodeStored reads a stored sign-in strictly.
func decodeStored(v string) (stored, error) {
	var s stored
	if len(v) > 4096 {
		return s, errors.New("stored sign-in is over 4 KiB")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(v)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return stored{}, fmt.Errorf("stored sign-in is not valid: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return stored{}, errors.New("stored sign-in has trailing data")
	}
	if s.Version != storedVersion {
		return stored{}, fmt.Errorf("stored sign-in version %d is not %d", s.Version, storedVersion)
	}
	if s.RefreshToken == "" || s.AuthURL == "" {
		return stored{}, errors.New("stored sign-in lacks a refresh token or auth URL")
	}
	return s, nil
}
