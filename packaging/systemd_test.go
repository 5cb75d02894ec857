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
	// dropIns are files under packaging/systemd installed as drop-ins of
	// this unit (UNIT.d/NAME.conf); verify and security read the unit
	// with them.
	dropIns []dropIn
}

// dropIn is a drop-in file and the name it is installed under.
type dropIn struct{ file, name string }

func units() []unit {
	return []unit{
		{file: "airlock.service", user: true, program: "airlock"},
		{file: "airlock-edge.service", program: "airlock-edge", maxExposure: 20},
		// A fleet member: the store URL file as a systemd credential.
		{file: "airlock-edge.service", program: "airlock-edge", maxExposure: 20,
			dropIns: []dropIn{{file: "airlock-edge-fleet.conf", name: "fleet.conf"}}},
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
		name := u.file
		for _, d := range u.dropIns {
			name += "+" + d.name
		}
		t.Run(name, func(t *testing.T) {
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
			// Each unit in its own folder: systemd-analyze reads the
			// drop-ins beside the unit it is given (UNIT.d/).
			unitDir := filepath.Join(dir, name)
			path := filepath.Join(unitDir, u.file)
			if err := os.MkdirAll(filepath.Join(unitDir, u.file+".d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, rewritten, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, d := range u.dropIns {
				b, err := os.ReadFile(filepath.Join(root, "packaging", "systemd", d.file))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(unitDir, u.file+".d", d.name), bytes.ReplaceAll(b, []byte("/usr/bin/"+u.program), []byte(stub)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"--man=no"}
			if u.user {
				args = append(args, "--user")
			}
			t.Run("verify", func(t *testing.T) {
				out := runAnalyze(t, sa, runtimeDir, append(args, "verify", path)...)
				if strings.TrimSpace(out) != "" {
					t.Errorf("systemd-analyze verify %s warned:\n%s", name, out)
				}
			})
			if len(u.dropIns) > 0 {
				// The drop-ins are read: one with a key systemd does not
				// know makes verify warn, naming it.
				t.Run("drop-ins read", func(t *testing.T) {
					bad := filepath.Join(unitDir, u.file+".d", "zz-unknown.conf")
					if err := os.WriteFile(bad, []byte("[Service]\nNoSuchKey=1\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					defer os.Remove(bad)
					if out := runAnalyze(t, sa, runtimeDir, append(args, "verify", path)...); !strings.Contains(out, "zz-unknown.conf") {
						t.Errorf("systemd-analyze verify ignored the drop-in folder:\n%s", out)
					}
				})
			}
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

// TestEdgeFleetDropIn checks what the fleet drop-in promises beyond what
// systemd-analyze validates: the store URL reaches the edge as a systemd
// credential under the bare name its config's store.url_file gives, never
// on a command line.
func TestEdgeFleetDropIn(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(ptest.Root(t), "packaging", "systemd", "airlock-edge-fleet.conf"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	var cred string
	for _, line := range strings.Split(src, "\n") {
		if v, ok := strings.CutPrefix(line, "LoadCredential="); ok {
			cred, _, _ = strings.Cut(v, ":")
		}
		if strings.HasPrefix(line, "Exec") && strings.Contains(line, "--store-url") {
			t.Errorf("a command line names the store URL: %q", line)
		}
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"a LoadCredential= line", cred != ""},
		{"the config's url_file is the credential's bare name", cred != "" && strings.Contains(src, "url_file: "+cred+" ")},
		{"the URL file kept root-only", strings.Contains(src, "install -m 0600 /dev/null /etc/airlock-edge/"+cred)},
		{"the one-off migrate", strings.Contains(src, "airlock-edge migrate --store-url-file /etc/airlock-edge/"+cred)},
		{"advertise: per edge", strings.Contains(src, "advertise: ")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("the fleet drop-in misses: %s", c.name)
		}
	}
}
