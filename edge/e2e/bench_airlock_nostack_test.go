//go:build !airlockstack

package e2e_test

import (
	"context"
	"errors"
	"io"
	"testing"
)

// startAirlock would start the real daemon, edge and connector in front of
// origin; edge/edgetest/stack (stack.Start) has not landed yet. When it has,
// delete this file and the build line of bench_airlock_stack_test.go.
func startAirlock(context.Context, testing.TB, string, io.Writer) (*airlockStack, error) {
	return nil, errors.New("airlock: edge/edgetest/stack.Start is not there yet (build with -tags airlockstack once it is)")
}
