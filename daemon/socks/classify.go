package socks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/tokens"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/wire"
)

// Causes that are not edge codes.
const (
	CauseEdgeUnreachable  = "edge_unreachable"
	CauseTokenUnavailable = "token_unavailable"
	CauseTimeout          = "timeout"
	CauseInternal         = "internal"
	// Sign-in causes (a token source's error with a ProblemCode).
	CauseSignInNeeded      = "sign_in_needed"      // not signed in, nobody can be asked: run airlock login
	CauseSignInTimeout     = "sign_in_timeout"     // the person did not finish signing in within sign_in.wait
	CauseSignInUnreachable = "sign_in_unreachable" // the edge's sign-in server did not answer
	CauseSignInUnavailable = "sign_in_unavailable" // the sign-in server or its identity provider is down
	CauseSignInFailed      = "sign_in_failed"      // the sign-in failed otherwise (edge error, token store)
)

// problemCoder is a token source's error that names its sign-in problem
// (signin.Error: an apitype SignIn* code, or "needed" while the person
// has not finished).
type problemCoder interface{ ProblemCode() string }

// signInReplies maps a sign-in problem to the SOCKS reply kubectl renders
// most helpfully ("socks connect tcp …: unknown error " + the reply's
// text; see ARCHITECTURE "What kubectl says") and a cause. A refusal by
// the policy carries the edge's Forbidden and is answered as that.
var signInReplies = map[string]struct {
	reply uint8
	cause string
}{
	apitype.SignInNobody:        {ReplyNotAllowed, CauseSignInNeeded},
	apitype.SignInBrowserFailed: {ReplyNotAllowed, CauseSignInNeeded},
	apitype.SignInRevoked:       {ReplyNotAllowed, CauseSignInNeeded},
	apitype.SignInCanceled:      {ReplyNotAllowed, CauseSignInNeeded},
	apitype.SignInRefused:       {ReplyNotAllowed, "forbidden"},
	"needed":                    {ReplyTTLExpired, CauseSignInTimeout}, // signin.CodeNeeded
	apitype.SignInTimeout:       {ReplyTTLExpired, CauseSignInTimeout},
	apitype.SignInUnreachable:   {ReplyNetworkUnreachable, CauseSignInUnreachable},
	apitype.SignInUnavailable:   {ReplyGeneralFailure, CauseSignInUnavailable},
	apitype.SignInEdgeError:     {ReplyGeneralFailure, CauseSignInFailed},
	apitype.SignInStoreFailed:   {ReplyGeneralFailure, CauseSignInFailed},
}

// Failure is how a failed stream open is reported: the SOCKS5 reply the
// client gets, a cause for logs and the cluster's state (an edge code slug
// such as "forbidden", or one of the Cause constants) and a message.
type Failure struct {
	Reply   uint8
	Cause   string
	Message string
	// Code is the edge's code when the edge (or the connector behind it)
	// refused, CodeOK otherwise.
	Code wire.Code
}

// Classify maps the error of a failed stream open to a Failure.
func Classify(err error) Failure {
	var (
		ee *wire.Error
		de *edgeclient.DialError
		ce *edgeclient.ConnError
		pc problemCoder
	)
	switch {
	case err == nil:
		return Failure{Reply: ReplySucceeded, Cause: "ok"}
	case errors.As(err, &ee):
		return Failure{Reply: ReplyOf(ee.Code), Cause: ee.Code.Slug(), Message: ee.Error(), Code: ee.Code}
	case errors.Is(err, tokens.ErrUnavailable):
		if errors.As(err, &pc) {
			if r, ok := signInReplies[pc.ProblemCode()]; ok {
				return Failure{Reply: r.reply, Cause: r.cause, Message: err.Error()}
			}
		}
		return Failure{Reply: ReplyNotAllowed, Cause: CauseTokenUnavailable, Message: err.Error()}
	case errors.As(err, &de), errors.As(err, &ce):
		return Failure{Reply: ReplyNetworkUnreachable, Cause: CauseEdgeUnreachable, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return Failure{Reply: ReplyTTLExpired, Cause: CauseTimeout, Message: err.Error()}
	default:
		return Failure{Reply: ReplyGeneralFailure, Cause: CauseInternal, Message: err.Error()}
	}
}

// NewCredentials returns a random username and password for a cluster's
// listener, safe to put in a URL's userinfo unescaped.
func NewCredentials(r io.Reader) (user, pass string, err error) {
	if r == nil {
		r = rand.Reader
	}
	var u [6]byte
	var p [18]byte
	if _, err := io.ReadFull(r, u[:]); err != nil {
		return "", "", fmt.Errorf("random username: %w", err)
	}
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return "", "", fmt.Errorf("random password: %w", err)
	}
	return "airlock-" + hex.EncodeToString(u[:]), base64.RawURLEncoding.EncodeToString(p[:]), nil
}
