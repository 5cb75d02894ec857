package dist

import (
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
)

// edgeState is the airlock-edge package's state folder.
const edgeState = "/var/lib/airlock-edge"

// testDebInstall installs the .debs on this machine with dpkg -i and checks
// what a person would: the files where they belong, the stamped versions,
// the service users and the edge's state folder, the edge's first-run step
// from the README, the installed units and desktop entries through their
// validators; then removes (dpkg -r) and purges (dpkg -P) the packages and
// checks that nothing of theirs is left.
func testDebInstall(t *testing.T, debs []string) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root, to run dpkg -i")
	}
	dpkg := testenv.LookPath(t, "dpkg", "apt-get install dpkg")
	names := []string{"airlock", "airlock-edge", "airlock-connector"}
	leftovers := false
	for _, n := range names {
		if st := debStatus(n); st != "" {
			// An earlier run of this test that was killed leaves its own
			// version behind; anything else is someone's install.
			v, _ := exec.Command("dpkg-query", "--show", "--showformat=${Version}", n).Output()
			if string(v) != testPkgVersion {
				t.Fatalf("%s %s is installed on this machine (%s): the test would replace and remove it", n, v, st)
			}
			leftovers = true
		}
	}
	if leftovers {
		t.Logf("purging the packages an earlier, interrupted run of this test left")
		run(t, dpkg, append([]string{"--purge"}, names...)...)
		os.RemoveAll(edgeState)
	}
	if _, err := os.Stat(edgeState); err == nil {
		t.Fatalf("%s exists already (no airlock-edge package owns it): remove it first", edgeState)
	}
	var files []string
	existed := map[string]bool{} // folders that were there before the install
	for _, n := range names {
		for _, f := range installedFiles(t, n) {
			files = append(files, f)
			for d := filepath.Dir(f); d != "/"; d = filepath.Dir(d) {
				_, err := os.Stat(d)
				existed[d] = err == nil
			}
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command(dpkg, append([]string{"--purge"}, names...)...).CombinedOutput(); err != nil {
			t.Logf("cleanup: dpkg --purge: %v\n%s", err, out)
		}
		os.RemoveAll(edgeState)
	})

	run(t, dpkg, append([]string{"--install"}, debs...)...)

	t.Run("files", func(t *testing.T) {
		for _, n := range names {
			listed := strings.Split(run(t, "dpkg-query", "--listfiles", n), "\n")
			for _, f := range installedFiles(t, n) {
				if !slices.Contains(listed, f) {
					t.Errorf("dpkg -L %s does not list %s", n, f)
				}
				fi, err := os.Stat(f)
				if err != nil {
					t.Errorf("%s: %v", n, err)
					continue
				}
				want := os.FileMode(0o644)
				if strings.HasPrefix(f, "/usr/bin/") {
					want = 0o755
				}
				if fi.Mode() != want {
					t.Errorf("%s: mode %v, want %v", f, fi.Mode(), want)
				}
			}
		}
	})
	t.Run("versions", func(t *testing.T) {
		for _, n := range names {
			if got := run(t, "dpkg-query", "--show", "--showformat=${Version}", n); got != testPkgVersion {
				t.Errorf("%s: package version %q, want %q", n, got, testPkgVersion)
			}
			// The version as a person would ask for it, from PATH's /usr/bin.
			got := run(t, "/usr/bin/"+n, "--version")
			if want := n + " " + testVersion + " (" + testCommit + ")"; got != want {
				t.Errorf("%s --version: %q, want %q", n, got, want)
			}
		}
	})
	t.Run("service users", func(t *testing.T) {
		for _, n := range []string{"airlock-edge", "airlock-connector"} {
			u, err := user.Lookup(n)
			if err != nil {
				t.Errorf("no user %s after the install: %v", n, err)
				continue
			}
			if uid, _ := strconv.Atoi(u.Uid); uid == 0 || uid >= 1000 {
				t.Errorf("user %s has uid %s, want a system uid", n, u.Uid)
			}
		}
	})
	t.Run("edge state folder", func(t *testing.T) {
		fi, err := os.Stat(edgeState)
		if err != nil {
			t.Fatal(err)
		}
		u, err := user.Lookup("airlock-edge")
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if strconv.Itoa(int(st.Uid)) != u.Uid || fi.Mode().Perm() != 0o700 || !fi.IsDir() {
			t.Errorf("%s: mode %v, uid %d; want a 0700 folder of airlock-edge (%s)", edgeState, fi.Mode(), st.Uid, u.Uid)
		}
		// The README's first step for the edge, as its service user.
		run(t, "runuser", "-u", "airlock-edge", "--", "/usr/bin/airlock-edge", "init", "--dir", edgeState, "--hostname", "edge.test")
		if _, err := os.Stat(filepath.Join(edgeState, "config.yaml")); err != nil {
			t.Errorf("after airlock-edge init: %v", err)
		}
	})
	t.Run("units", func(t *testing.T) {
		sa := testenv.LookPath(t, "systemd-analyze", "apt-get install systemd")
		if out, err := exec.Command(sa, "--man=no", "verify",
			"/usr/lib/systemd/system/airlock-edge.service", "/usr/lib/systemd/system/airlock-connector.service").CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		cmd := exec.Command(sa, "--man=no", "--user", "verify", "/usr/lib/systemd/user/airlock.service")
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze --user verify: %v\n%s", err, out)
		}
	})
	t.Run("desktop entries", func(t *testing.T) {
		v := testenv.LookPath(t, "desktop-file-validate", "apt-get install desktop-file-utils")
		if out, err := exec.Command(v, "/usr/share/applications/airlock.desktop", "/etc/xdg/autostart/airlock.desktop").CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("desktop-file-validate: %v\n%s", err, out)
		}
	})

	run(t, dpkg, append([]string{"--remove"}, names...)...)
	t.Run("removed", func(t *testing.T) {
		for _, f := range files {
			_, err := os.Stat(f)
			conffile := strings.HasPrefix(f, "/etc/")
			switch {
			case conffile && err != nil:
				t.Errorf("dpkg -r removed the configuration file %s (only a purge should)", f)
			case !conffile && !errors.Is(err, os.ErrNotExist):
				t.Errorf("%s is still there after dpkg -r: %v", f, err)
			}
		}
		if st := debStatus("airlock-connector"); st != "deinstall ok config-files" {
			t.Errorf("airlock-connector after dpkg -r: %q", st)
		}
	})

	run(t, dpkg, append([]string{"--purge"}, names...)...)
	t.Run("purged", func(t *testing.T) {
		for _, n := range names {
			if st := debStatus(n); st != "" {
				t.Errorf("%s after dpkg -P: %q", n, st)
			}
		}
		for _, f := range files {
			if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s is still there after dpkg -P: %v", f, err)
			}
		}
		for d, was := range existed {
			if _, err := os.Stat(d); !was && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("folder %s was made by the install and is still there after dpkg -P", d)
			}
		}
		// The edge's state holds its keys now: a purge keeps it.
		if _, err := os.Stat(filepath.Join(edgeState, "config.yaml")); err != nil {
			t.Errorf("dpkg -P removed the edge's state: %v", err)
		}
	})
}

// debStatus is dpkg's status of package name ("install ok installed",
// "deinstall ok config-files"), or "" when dpkg does not know it.
func debStatus(name string) string {
	out, err := exec.Command("dpkg-query", "--show", "--showformat=${Status}", name).Output()
	if err != nil {
		return ""
	}
	st := strings.TrimSpace(string(out))
	if st == "unknown ok not-installed" || st == "purge ok not-installed" {
		return ""
	}
	return st
}
