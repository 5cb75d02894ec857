package token

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by every refusal of [Verifier.Verify].
var (
	ErrMalformed     = errors.New("malformed token")
	ErrAlgorithm     = errors.New("token algorithm not accepted")
	ErrUnknownKey    = errors.New("token signed by an unknown key")
	ErrBadSignature  = errors.New("token signature does not verify")
	ErrExpired       = errors.New("token expired")
	ErrNotYetValid   = errors.New("token not valid yet")
	ErrWrongAudience = errors.New("token is for another audience")
	ErrWrongIssuer   = errors.New("token from another issuer")
	ErrMissingClaim  = errors.New("token lacks a required claim")
)

func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
