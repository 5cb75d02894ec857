package packaging_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/packaging/internal/ptest"
)

// unit is a systemd unit under packaging/systemd.
type unit struct {
	file    string
	user    bool   // a systemd --user unit
	program string // the /usr/bin program ExecStart runs
	// maxExposure bounds `systemd-analyze security` (0-100, i.e. 0.0-10.0);
	// 0 skips it (user units cannot apply most of its measures).
	maxExposure int
}

func units() []unit {
	return []unit{
		{file: "airlock.service", user: true, program: "airlock"},
		{file: "airlock-edge.service", program: "airlock-edge", maxExposure: 20},
		{file: "airlock-connector.service", program: "airlock-connector", maxExposure: 20},
	}
}

// TestSystemdUnits runs `systemd-analyze verify` on each unit (any
// warning fails it: verify exits 0 on unknown keys and bad values) and,
// for the system units, `systemd-analyze security --offline` with a
// maximum exposure. The units' /usr/bin programs are stubs in a temporary
// folder, since verify checks that ExecStart is executable.
func TestSystemdUnits(t *testing.T) {
	sa := testenv.LookPath(t, "systemd-analyze", "apt-get install systemd")
	root := ptest.Root(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	runtimeDir := filepath.Join(dir, "run")
	if err := os.Mkdir(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, u := range units() {
		t.Run(u.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(root, "packaging", "systemd", u.file))
			if err != nil {
				t.Fatal(err)
			}
			exec := "ExecStart=/usr/bin/" + u.program + " "
			if !bytes.Contains(src, []byte("\n"+exec)) {
				t.Fatalf("%s: no %q line", u.file, exec)
			}
			stub := filepath.Join(bin, u.program)
			if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			rewritten := bytes.ReplaceAll(src, []byte("/usr/bin/"+u.program), []byte(stub))
			path := filepath.Join(dir, u.file)
			if err := os.WriteFile(path, rewritten, 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"--man=no"}
			if u.user {
				args = append(args, "--user")
			}
			t.Run("verify", func(t *testing.T) {
				out := runAnalyze(t, sa, runtimeDir, append(args, "verify", path)...)
				if strings.TrimSpace(out) != "" {
					t.Errorf("systemd-analyze verify %s warned:\n%s", u.file, out)
				}
			})
			if u.maxExposure == 0 {
				return
			}
			t.Run("security", func(t *testing.T) {
				out := runAnalyze(t, sa, runtimeDir, "security", "--offline=yes", "--threshold="+strconv.Itoa(u.maxExposure), path)
				if !strings.Contains(out, "Overall exposure level for "+u.file) {
					t.Errorf("no exposure level in:\n%s", out)
				}
			})
		})
	}
}

// runAnalyze runs systemd-analyze and returns its combined output, failing
// t on a non-zero exit.
func runAnalyze(t *testing.T, sa, runtimeDir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(sa, args...)
	// --user needs a runtime folder; there may be no user manager (a
	// container without systemd as PID 1).
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtimeDir, "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
