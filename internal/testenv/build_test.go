package testenv_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
)

func TestBuildBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	dir := testenv.BuildBinaries(t, "./testdata/hello")
	out, err := exec.Command(filepath.Join(dir, "hello")).Output()
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("hello: %q, %v", out, err)
	}
	st, err := os.Stat(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if again := testenv.BuildBinary(t, "github.com/airlockhq/airlock/internal/testenv/testdata/hello"); again != filepath.Join(dir, "hello") {
		t.Errorf("second build is %s, the first in %s", again, dir)
	}
	if st2, err := os.Stat(filepath.Join(dir, "hello")); err != nil || !st2.ModTime().Equal(st.ModTime()) {
		t.Errorf("hello was built again (%v)", err)
	}
}
