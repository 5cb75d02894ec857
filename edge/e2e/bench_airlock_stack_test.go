//go:build airlockstack

package e2e_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/airlockhq/airlock/edge/edgetest/stack"
)

// startAirlock starts the real daemon, edge and connector (from
// AIRLOCK_BIN if set, else built into a temporary folder without -race) in
// front of origin, and stops them when the benchmark ends.
func startAirlock(ctx context.Context, tb testing.TB, origin string, log io.Writer) (*airlockStack, error) {
	bin := os.Getenv("AIRLOCK_BIN")
	if bin == "" {
		bin = tb.TempDir()
		if err := stack.Build(ctx, bin, false); err != nil {
			return nil, fmt.Errorf("airlock: %w", err)
		}
	}
	s, err := stack.Start(ctx, stack.Options{Bin: bin, Origin: origin, Log: log})
	if err != nil {
		return nil, fmt.Errorf("airlock: start the stack: %w", err)
	}
	tb.Cleanup(func() { s.Close() })
	return &airlockStack{SOCKSAddr: s.SOCKSAddr, User: s.User, Pass: s.Pass, Target: origin}, nil
}
