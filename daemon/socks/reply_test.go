package socks

import (
	"testing"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
)

func TestCodes(t *testing.T) {
	tests := []struct {
		code  wire.Code
		name  string
		socks uint8
	}{
		{wire.CodeOK, "ok", ReplySucceeded},
		{wire.CodeUnauthenticated, "unauthenticated", ReplyNotAllowed},
		{wire.CodeForbidden, "forbidden", ReplyNotAllowed},
		{wire.CodeNoConnector, "no connector", ReplyNetworkUnreachable},
		{wire.CodeUnknownApp, "unknown app", ReplyHostUnreachable},
		{wire.CodeOriginUnreachable, "origin unreachable", ReplyConnectionRefused},
		{wire.CodeBadRequest, "bad request", ReplyGeneralFailure},
		{wire.CodeOverloaded, "overloaded", ReplyGeneralFailure},
		{wire.Code(999), "code 999", ReplyGeneralFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code.String() != tc.name || ReplyOf(tc.code) != tc.socks {
				t.Fatalf("%d: %q/%#x, want %q/%#x", tc.code, tc.code.String(), ReplyOf(tc.code), tc.name, tc.socks)
			}
			err := wire.Errorf(tc.code, "x")
			if relay.CodeOf(err) != tc.code || relay.ResultOf(err).Code != tc.code {
				t.Fatal("code lost through CodeOf/ResultOf")
			}
		})
	}
}
