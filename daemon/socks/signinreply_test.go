package socks

import (
	"fmt"
	"testing"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/tokens"
	"github.com/airlockhq/airlock/internal/wire"
)

// signInErr stands in for signin.Error (which this package cannot
// import): a token source's error with a problem code.
type signInErr struct {
	code string
	err  error
}

func (e signInErr) Error() string        { return "sign-in at edge main: " + e.code }
func (e signInErr) ProblemCode() string  { return e.code }
func (e signInErr) Unwrap() []error      { return []error{tokens.ErrUnavailable, e.err} }
func newSignInErr(code string) signInErr { return signInErr{code: code} }

// TestSignInReplies: each sign-in cause gets the SOCKS reply whose text
// kubectl prints most helpfully (ARCHITECTURE "What kubectl says").
func TestSignInReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		reply uint8
		cause string
	}{
		{"not signed in, nobody to ask", newSignInErr(apitype.SignInNobody), ReplyNotAllowed, CauseSignInNeeded},
		{"browser failed", newSignInErr(apitype.SignInBrowserFailed), ReplyNotAllowed, CauseSignInNeeded},
		{"refresh token revoked", newSignInErr(apitype.SignInRevoked), ReplyNotAllowed, CauseSignInNeeded},
		{"refused by policy", signInErr{code: apitype.SignInRefused, err: wire.Errorf(wire.CodeForbidden, "bob is not allowed")}, ReplyNotAllowed, "forbidden"},
		{"still waiting after sign_in.wait", newSignInErr("needed"), ReplyTTLExpired, CauseSignInTimeout},
		{"nobody completed the attempt", newSignInErr(apitype.SignInTimeout), ReplyTTLExpired, CauseSignInTimeout},
		{"sign-in server unreachable", newSignInErr(apitype.SignInUnreachable), ReplyNetworkUnreachable, CauseSignInUnreachable},
		{"sign-in server temporarily unavailable", newSignInErr(apitype.SignInUnavailable), ReplyGeneralFailure, CauseSignInUnavailable},
		{"edge error", newSignInErr(apitype.SignInEdgeError), ReplyGeneralFailure, CauseSignInFailed},
		{"an unknown code", newSignInErr("new_code"), ReplyNotAllowed, CauseTokenUnavailable},
		{"a token file", fmt.Errorf("%w: token file missing", tokens.ErrUnavailable), ReplyNotAllowed, CauseTokenUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if f := Classify(tc.err); f.Reply != tc.reply || f.Cause != tc.cause {
				t.Fatalf("reply %#02x cause %q, want %#02x %q", f.Reply, f.Cause, tc.reply, tc.cause)
			}
		})
	}
}
