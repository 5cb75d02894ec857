package keychain

import (
	"context"
	"errors"
	"fmt"
)

// Store keeps small secrets by key. Calls block at most for the store's
// timeout or until ctx ends.
type Store interface {
	// Get returns the value stored under key, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, key string) (string, error)
	// Set stores value under key, replacing any previous value.
	Set(ctx context.Context, key, value string) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// MaxValue bounds a stored value; go-keyring refuses more than 2560 bytes
// on Windows and about 3000 on macOS.
const MaxValue = 2048

// Errors callers match with errors.Is.
var (
	ErrNotFound = errors.New("not stored")
	ErrTooBig   = fmt.Errorf("value is over %d bytes", MaxValue)
)

// Kind names a store in status and in the remembered choice.
type Kind string

// The kinds of store.
const (
	KindKeychain Kind = "keychain"
	KindFile     Kind = "file"
	// KindMemory: the keychain is there but locked or slow; values wait
	// in memory until it answers (never persisted, never in the file).
	KindMemory Kind = "memory"
)

func checkKey(key string) error {
	if key == "" {
		return errors.New("keychain: empty key")
	}
	if len(key) > 256 {
		return errors.New("keychain: key is over 256 bytes")
	}
	return nil
}

func checkValue(v string) error {
	if len(v) > MaxValue {
		return fmt.Errorf("keychain: %w (%d bytes)", ErrTooBig, len(v))
	}
	return nil
}
