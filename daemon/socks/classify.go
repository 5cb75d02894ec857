package socks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

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
)

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
	)
	switch {
	case err == nil:
		return Failure{Reply: ReplySucceeded, Cause: "ok"}
	case errors.As(err, &ee):
		return Failure{Reply: ReplyOf(ee.Code), Cause: ee.Code.Slug(), Message: ee.Error(), Code: ee.Code}
	case errors.Is(err, tokens.ErrUnavailable):
		return Failure{Reply: ReplyNotAllowed, Cause: CauseTokenUnavailable, Message: err.Error()}
	case errors.As(err, &de), errors.As(err, &ce):
		return Failure{Reply: ReplyNetworkUnreachable, Cause: CauseEdgeUnreachable, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return Failure{Reply: ReplyHostUnreachable, Cause: CauseTimeout, Message: err.Error()}
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
