// Package ptest has the helpers the packaging tests share: finding the
// module folder, and whether tests that install packages may run. (A
// missing external tool is internal/testenv's.)
package ptest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
)

// SystemWide reports whether tests that install packages on this machine
// may run: in CI, or with AIRLOCK_PACKAGE_TESTS=1.
func SystemWide() bool { return testenv.CI() || os.Getenv("AIRLOCK_PACKAGE_TESTS") == "1" }

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
