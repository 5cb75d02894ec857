package relay

import (
	"errors"

	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// CodeOf returns the code an error carries: the code of a *wire.Error, of a
// stream reset or connection close by the peer with one of our codes (QUIC's
// or the TCP transport's), CodeOK for nil, and
// CodeInternal otherwise.
func CodeOf(err error) wire.Code {
	if err == nil {
		return wire.CodeOK
	}
	var e *wire.Error
	if errors.As(err, &e) {
		return e.Code
	}
	var se *quic.StreamError
	if errors.As(err, &se) && se.Remote {
		return wire.Code(se.ErrorCode)
	}
	var te *transport.StreamError
	if errors.As(err, &te) && te.Remote {
		return te.Code
	}
	var ta *transport.ApplicationError
	if errors.As(err, &ta) && ta.Remote {
		return ta.Code
	}
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote {
		return wire.Code(ae.ErrorCode)
	}
	// An edge over a limit refuses a connection at its first packet, before
	// there is a connection to close with a code of ours.
	var qe *quic.TransportError
	if errors.As(err, &qe) && qe.Remote && qe.ErrorCode == quic.ConnectionRefused {
		return wire.CodeOverloaded
	}
	return wire.CodeInternal
}

// ResultOf returns the wire.Result that reports err (CodeOK for nil).
func ResultOf(err error) *wire.Result {
	if err == nil {
		return &wire.Result{}
	}
	var e *wire.Error
	if errors.As(err, &e) {
		return &wire.Result{Code: e.Code, Message: e.Message}
	}
	return &wire.Result{Code: CodeOf(err), Message: err.Error()}
}
