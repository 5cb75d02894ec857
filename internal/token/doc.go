// Package token issues and verifies the edge's access and service tokens:
// Ed25519-signed JWTs (alg EdDSA, a "kid" header) whose audience is the app
// hostname they open.
//
// A [Signer] holds one private key and its key id. A [Verifier] holds the set
// of public keys that may sign tokens (replaceable for key rotation) and a
// bounded cache of tokens it has already verified, so that the check on every
// stream costs a map lookup rather than an Ed25519 verification (~80–100 µs).
// Only tokens whose signature verified are cached, an entry lives no longer
// than its token's expiry, and replacing the keys drops the entries of keys
// that are gone.
//
// Refusals wrap one of the sentinel errors ([ErrMalformed], [ErrAlgorithm],
// [ErrUnknownKey], [ErrBadSignature], [ErrExpired], [ErrNotYetValid],
// [ErrWrongAudience], [ErrWrongIssuer], [ErrMissingClaim]) so that callers can
// tell them apart with errors.Is; the message names the cause. Token strings
// never appear in errors.
package token
