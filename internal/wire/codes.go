package wire

import "fmt"

// Code is a numeric outcome carried in [Welcome] and [Result] frames, in QUIC
// stream resets and connection closes, and in logs and metrics.
type Code uint16

// The codes. Their numbers are part of the wire protocol: never renumber.
const (
	CodeOK                 Code = 0
	CodeBadRequest         Code = 1  // the peer sent something malformed
	CodeUnauthenticated    Code = 2  // no token, or a token that does not verify
	CodeForbidden          Code = 3  // a valid identity the policy refuses
	CodeNoConnector        Code = 4  // no live connector serves the app
	CodeOriginUnreachable  Code = 5  // the connector could not reach the origin
	CodeOverloaded         Code = 6  // try again later
	CodeUnknownApp         Code = 7  // no app with that hostname
	CodeUnsupportedVersion Code = 8  // protocol version not spoken here
	CodeInternal           Code = 9  // a bug or an unexpected failure
	CodeGoingAway          Code = 10 // the peer is shutting down or draining
	CodeTunnelFull         Code = 11 // the tunnel holds its maximum of connector connections
)

var codeNames = [...]string{
	CodeOK:                 "ok",
	CodeBadRequest:         "bad request",
	CodeUnauthenticated:    "unauthenticated",
	CodeForbidden:          "forbidden",
	CodeNoConnector:        "no connector",
	CodeOriginUnreachable:  "origin unreachable",
	CodeOverloaded:         "overloaded",
	CodeUnknownApp:         "unknown app",
	CodeUnsupportedVersion: "unsupported version",
	CodeInternal:           "internal error",
	CodeGoingAway:          "going away",
	CodeTunnelFull:         "tunnel full",
}

// String returns the code's name, e.g. "forbidden".
func (c Code) String() string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// Slug returns the code's name as a metric or log label, e.g. "no_connector".
func (c Code) Slug() string {
	b := []byte(c.String())
	for i, ch := range b {
		if ch == ' ' {
			b[i] = '_'
		}
	}
	return string(b)
}

// Temporary reports whether the same request may succeed if retried later
// without the user doing anything.
func (c Code) Temporary() bool {
	switch c {
	case CodeNoConnector, CodeOriginUnreachable, CodeOverloaded, CodeGoingAway, CodeInternal, CodeTunnelFull:
		return true
	}
	return false
}

// Error is a refusal with its code and a message for people. It is what
// [Result] and [Welcome] frames carry, and what callers match with errors.As.
type Error struct {
	Code    Code
	Message string
}

// Errorf returns an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}
