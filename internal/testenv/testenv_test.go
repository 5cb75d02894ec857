package testenv_test

import (
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
)

func TestCI(t *testing.T) {
	t.Setenv("CI", "true")
	if !testenv.CI() {
		t.Error("CI=true is not CI")
	}
	for _, v := range []string{"", "1", "false"} {
		t.Setenv("CI", v)
		if testenv.CI() {
			t.Errorf("CI=%q is CI", v)
		}
	}
}

func TestMissingSkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	var ran bool
	t.Run("missing", func(t *testing.T) {
		testenv.LookPath(t, "airlock-no-such-program", "nowhere")
		ran = true
	})
	if ran {
		t.Error("LookPath of a missing program returned")
	}
	if p := testenv.LookPath(t, "go", "the Go toolchain"); !filepath.IsAbs(p) {
		t.Errorf("LookPath(go) = %q", p)
	}
	if p := testenv.File(t, "testenv.go", ""); p != "testenv.go" {
		t.Errorf("File = %q", p)
	}
}
