package stack

import (
	"os"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
)

// Packages returns the main packages of the programs a stack runs:
// airlock, airlock-edge and airlock-connector.
func Packages() []string {
	return []string{
		"github.com/airlockhq/airlock/tray/cmd/airlock",
		"github.com/airlockhq/airlock/edge/cmd/airlock-edge",
		"github.com/airlockhq/airlock/connector/cmd/airlock-connector",
	}
}

// Programs returns a folder holding the programs a stack runs, for
// Options.Bin: $AIRLOCK_BIN when set (make bench points it at make build's
// output), else the programs testenv.BuildBinaries builds for this test
// run.
func Programs(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("AIRLOCK_BIN"); dir != "" {
		return dir
	}
	return testenv.BuildBinaries(tb, Packages()...)
}
