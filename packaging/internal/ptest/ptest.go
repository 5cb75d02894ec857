// Package ptest has the helpers the packaging tests share: finding the
// module folder, and requiring an external tool (a failure under CI=true,
// a skip elsewhere).
package ptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// CI reports whether the tests run in CI (CI=true), where a missing part
// is a failure.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing fails tb under CI=true and skips it otherwise.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if CI() {
		tb.Fatalf("missing (install it; CI=true makes this a failure): "+format, args...)
	}
	tb.Skipf("missing (CI=true makes this a failure): "+format, args...)
}

// Tool returns the path of the command name, or fails or skips tb (see
// [Missing]) naming the Debian package that has it.
func Tool(tb testing.TB, name, debPackage string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, "%s (apt-get install %s): %v", name, debPackage, err)
	}
	return p
}

// SystemWide reports whether tests that install packages on this machine
// may run: in CI, or with AIRLOCK_PACKAGE_TESTS=1.
func SystemWide() bool { return CI() || os.Getenv("AIRLOCK_PACKAGE_TESTS") == "1" }

// Root returns the module folder: the nearest folder above the test's
// working folder (its package folder) that has a go.mod.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("ptest: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("ptest: no go.mod above the working folder")
		}
		dir = parent
	}
}
