// Package token issues and verifies the edge's access and service tokens:
// Ed25519-signed JWTs (alg EdDSA, a "kid" header) whose audience is the app
// hostname they open; and its stream assertions, which carry what the edge
// verified on one stream to the connector it routes the stream to.
//
// A [Signer] holds one private key and its key id. A [Verifier] holds the set
// of public keys that may sign tokens (replaceable for key rotation) and a
// bounded cache of tokens it has already verified, so that the check on every
// stream costs a map lookup rather than an Ed25519 verification (~80–100 µs).
// Only tokens whose signature verified are cached, an entry lives no longer
// than its token's expiry, and replacing the keys drops the entries of keys
// that are gone.
//
// A stream assertion ([Signer.Assert], [Verifier.VerifyAssertion]) is signed
// by the same keys but is another kind of token: its "typ" header is
// [AssertionType] and its "token_use" claim [UseStream], which
// [Verifier.Verify] refuses, and the reverse; its audience is one tunnel
// ("tunnel:ID", never an app hostname) and it names one app and one stream;
// it lives seconds and carries a random nonce that a [ReplayCache] lets a
// connector accept once. A connector that learns an assertion can replay it
// nowhere: not at the edge, not on another tunnel, app or stream.
//
// Refusals wrap one of the sentinel errors ([ErrMalformed], [ErrAlgorithm],
// [ErrUnknownKey], [ErrBadSignature], [ErrExpired], [ErrNotYetValid],
// [ErrWrongAudience], [ErrWrongIssuer], [ErrMissingClaim], [ErrWrongUse],
// and for assertions [ErrReplayed] and [ErrReplayCacheFull]) so that callers
// can tell them apart with errors.Is; the message names the cause. Token
// strings never appear in errors.
package token
