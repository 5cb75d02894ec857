package e2e

import (
	"context"
	"fmt"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"io"
	"os"
	"strings"
	"testing"
)

// startAirlock starts the real edge, connector and daemon (from AIRLOCK_BIN
// if set, else built by the stack without -race) in front of origin, and
// stops them when the benchmark ends.
func startAirlock(ctx context.Context, tb testing.TB, origin string, log io.Writer) (*airlockStack, error) {
	s, err := stack.Start(ctx, stack.Options{Bin: os.Getenv("AIRLOCK_BIN"), Origin: origin, Log: log})
	if err != nil {
		return nil, fmt.Errorf("airlock: start the stack: %w", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("airlock: stop the stack: %v", err)
		}
	})
	// What kubectl asks for; the connector dials its rule's origin anyway.
	target := strings.TrimPrefix(stack.KubeServer, "https://")
	return &airlockStack{SOCKSAddr: s.SOCKSAddr, User: s.User, Pass: s.Pass, Target: target}, nil
}
