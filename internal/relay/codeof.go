package relay

import (
	"errors"

	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// CodeOf returns the code an error carries: the code of a *wire.Error, of a QUIC
// stream or application error with one of our codes, CodeOK for nil, and
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
	var ae *quic.ApplicationError
	if errors.As(err, &ae) && ae.Remote {
		return wire.Code(ae.ErrorCode)
	}
	// An edge over a limit refuses a connection at its first packet, before
	// there is a connection to close with a code of ours.
	var te *quic.TransportError
	if errors.As(err, &te) && te.Remote && te.ErrorCode == quic.ConnectionRefused {
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
