package socks

import "github.com/airlockhq/airlock/internal/wire"

// SOCKS5 reply codes (RFC 1928 section 6).
const (
	ReplySucceeded          uint8 = 0x00
	ReplyGeneralFailure     uint8 = 0x01
	ReplyNotAllowed         uint8 = 0x02
	ReplyNetworkUnreachable uint8 = 0x03
	ReplyHostUnreachable    uint8 = 0x04
	ReplyConnectionRefused  uint8 = 0x05
	ReplyTTLExpired         uint8 = 0x06
)

// ReplyOf maps an edge code to the SOCKS5 reply a client such as kubectl sees.
func ReplyOf(c wire.Code) uint8 {
	switch c {
	case wire.CodeOK:
		return ReplySucceeded
	case wire.CodeUnauthenticated, wire.CodeForbidden:
		return ReplyNotAllowed
	case wire.CodeNoConnector:
		return ReplyNetworkUnreachable
	case wire.CodeUnknownApp:
		return ReplyHostUnreachable
	case wire.CodeOriginUnreachable:
		return ReplyConnectionRefused
	default:
		return ReplyGeneralFailure
	}
}
