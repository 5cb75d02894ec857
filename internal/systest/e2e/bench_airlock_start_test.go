package e2e

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/systest/stack"
)

// startAirlock starts the real edge, connector and daemon (from
// stack.Programs: AIRLOCK_BIN if set, else built for this run) in front of
// origin, and stops them when the benchmark ends.
func startAirlock(ctx context.Context, tb testing.TB, origin string, log io.Writer) (*airlockStack, error) {
	s, err := stack.Start(ctx, stack.Options{Bin: stack.Programs(tb), Origin: origin, Log: log})
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
	return &airlockStack{SOCKSAddr: s.SOCKSAddr, User: s.User, Pass: s.Pass, Target: target,
		Procs: []benchPID{{"daemon", s.Daemon.PID()}, {"edge", s.Edge.PID()}, {"connector", s.Connector.PID()}}}, nil
}
