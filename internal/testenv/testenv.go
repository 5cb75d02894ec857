// Package testenv is the one home of four mechanisms the tests share:
//
//   - missing parts: a test that needs something outside Go (a program, a
//     file, root) skips when it is absent, and fails when CI=true, where
//     everything must be installed ([Missing], [LookPath], [File], [CI]);
//   - waiting: polling a condition until it holds, bounded by the test's
//     own deadline rather than by a wall clock of its own ([Eventually],
//     [Poll], [Stop], [Context]);
//   - building the programs the tests run: each main package once per
//     `go test` run, into a folder the run's test binaries share, with the
//     race detector when the test binary has it ([BuildBinaries],
//     [BuildBinary], and the file lock behind it, [LockFile]);
//   - peers that are not there: a loopback address whose connections are
//     refused and whose port nobody else can take ([RefusedAddr]), and a
//     UDP socket that reads and never answers ([SilentUDP]).
//
// It is for tests and test-helper packages only (keychaintest, traytest,
// kapitest, stack, …; airlock-demo, a development tool, links it through
// kapitest and stack): no shipped program imports it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run in CI, as .ci/run runs them (CI=true):
// there a missing part is a failure, not a reason to skip.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing reports a part that tb needs and this machine lacks: it fails tb
// under CI=true and skips it otherwise. format and args say what is missing
// and how to install it.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if CI() {
		tb.Fatalf("missing (install it; CI=true makes this a failure): "+format, args...)
	}
	tb.Skipf("missing (CI=true makes this a failure): "+format, args...)
}

// LookPath returns the path of the program name on PATH, or reports it
// [Missing]; install says how to get it (for example "apt-get install
// curl").
func LookPath(tb testing.TB, name, install string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, "%s (%s): %v", name, install, err)
	}
	return p
}

// File returns path when it exists, or reports it [Missing]; install says
// how to get it.
func File(tb testing.TB, path, install string) string {
	tb.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(tb, "%s (%s): %v", path, install, err)
	}
	return path
}
