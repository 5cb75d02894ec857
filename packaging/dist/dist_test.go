package dist

import (
	"bufio"
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/packaging/internal/ptest"
)

// Every release build in these tests stamps this version and commit.
const (
	testVersion    = "v1.2.3-rc.1"
	testCommit     = "1234abc"
	testPkgVersion = "1.2.3~rc.1"
)

// build runs Build for targets into a temporary folder, failing tb on error.
func build(tb testing.TB, targets []Target, formats []string, sign *SignOptions) (*Result, string) {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "dist")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := Build(ctx, Options{
		Root: ptest.Root(tb), Out: out, Version: testVersion, Commit: testCommit,
		Targets: targets, Formats: formats, Sign: sign,
	})
	if err != nil {
		tb.Fatalf("Build: %v", err)
	}
	return res, out
}

func TestBuildRejects(t *testing.T) {
	root := ptest.Root(t)
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "old.deb"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no output folder", Options{Root: root}, "no output folder"},
		{"output folder not empty", Options{Root: root, Out: full, Version: "v1.0.0"}, "not empty"},
		{"unknown target", Options{Root: root, Out: t.TempDir(), Targets: []Target{{"darwin", "arm64"}}}, "target darwin-arm64"},
		{"unknown format", Options{Root: root, Out: t.TempDir(), Formats: []string{"apk"}}, `format "apk"`},
		{"bad version", Options{Root: root, Out: t.TempDir(), Version: "release one"}, `version "release one"`},
		{"not the module", Options{Root: t.TempDir(), Out: t.TempDir()}, "not the Airlock module folder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(context.Background(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(full, "old.deb")); err != nil {
		t.Errorf("a refused build touched the output folder: %v", err)
	}
}

func TestSignOptionsFromEnv(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantNil bool
		wantErr string
	}{
		{"nothing set", map[string]string{}, true, ""},
		{"only a password", map[string]string{"AIRLOCK_SIGN_PASSWORD": "pw"}, true, ""},
		{"cert and key", map[string]string{"AIRLOCK_SIGN_CERT": cert, "AIRLOCK_SIGN_KEY": key}, false, ""},
		{"pkcs12", map[string]string{"AIRLOCK_SIGN_PKCS12": cert}, false, ""},
		{"cert without key", map[string]string{"AIRLOCK_SIGN_CERT": cert}, false, "needs its key"},
		{"both kinds", map[string]string{"AIRLOCK_SIGN_PKCS12": cert, "AIRLOCK_SIGN_CERT": cert, "AIRLOCK_SIGN_KEY": key}, false, "not both"},
		{"missing file", map[string]string{"AIRLOCK_SIGN_PKCS12": filepath.Join(dir, "nope.p12")}, false, "nope.p12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := SignOptionsFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (s == nil) != tc.wantNil {
				t.Fatalf("options %+v, want nil: %v", s, tc.wantNil)
			}
		})
	}
}

func TestAppIcon(t *testing.T) {
	for _, size := range IconSizes() {
		b, err := AppIconPNG(size)
		if err != nil {
			t.Fatalf("%d px: %v", size, err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%d px: %v", size, err)
		}
		if r := img.Bounds(); r.Dx() != size || r.Dy() != size {
			t.Errorf("%d px icon is %v", size, r)
		}
	}
	if _, err := AppIconPNG(512); err == nil {
		t.Error("a 512 px icon scaled up without an error")
	}
}

// TestScripts renders every package's maintainer scripts and has sh (and
// shellcheck, when installed) check them.
func TestScripts(t *testing.T) {
	root := ptest.Root(t)
	sh := testenv.LookPath(t, "sh", "apt-get install dash")
	shellcheck, _ := exec.LookPath("shellcheck")
	for _, p := range packages() {
		if p.scripts == nil {
			continue
		}
		for _, name := range []string{"postinstall.sh", "preremove.sh", "postremove.sh"} {
			t.Run(p.name+"/"+name, func(t *testing.T) {
				b, err := RenderScript(filepath.Join(root, "packaging", "linux", "scripts", name), *p.scripts)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(b), "<no value>") || !bytes.HasPrefix(b, []byte("#!/bin/sh\n")) {
					t.Fatalf("rendered script:\n%s", b)
				}
				path := filepath.Join(t.TempDir(), name)
				if err := os.WriteFile(path, b, 0o755); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(sh, "-n", path).CombinedOutput(); err != nil {
					t.Fatalf("sh -n: %v\n%s\n%s", err, out, b)
				}
				if shellcheck != "" {
					if out, err := exec.Command(shellcheck, "-s", "sh", path).CombinedOutput(); err != nil {
						t.Errorf("shellcheck: %v\n%s", err, out)
					}
				}
			})
		}
	}
}

// installedFiles returns the files package name installs.
func installedFiles(t *testing.T, name string) []string {
	t.Helper()
	for _, p := range packages() {
		if p.name == name {
			var out []string
			for _, f := range p.files {
				out = append(out, f.dst)
			}
			return out
		}
	}
	t.Fatalf("no package %q", name)
	return nil
}

// TestLinuxPackages builds the linux/amd64 release (binaries, .deb, .rpm)
// with the code `make dist` runs and checks it: checksums, stamped
// versions, the packages' contents and scripts; and, in CI or with
// AIRLOCK_PACKAGE_TESTS=1, installs the .debs on this machine and removes
// them again (see testDebInstall).
func TestLinuxPackages(t *testing.T) {
	res, out := build(t, []Target{{"linux", "amd64"}}, nil, nil)
	var debs, rpms []Artifact
	for _, a := range res.Artifacts {
		switch a.Kind {
		case "deb":
			debs = append(debs, a)
		case "rpm":
			rpms = append(rpms, a)
		}
	}
	if len(debs) != 3 || len(rpms) != 3 {
		t.Fatalf("%d .deb and %d .rpm, want 3 of each: %v", len(debs), len(rpms), res.Paths())
	}

	t.Run("checksums", func(t *testing.T) {
		checkSums(t, out, res)
	})
	t.Run("binaries", func(t *testing.T) {
		for _, p := range programs() {
			got := runVersion(t, filepath.Join(out, "linux-amd64", p.name))
			if want := p.name + " " + testVersion + " (" + testCommit + ")"; got != want {
				t.Errorf("%s version: %q, want %q", p.name, got, want)
			}
		}
	})
	t.Run("deb", func(t *testing.T) {
		dpkgDeb := testenv.LookPath(t, "dpkg-deb", "apt-get install dpkg")
		for _, a := range debs {
			t.Run(a.Package, func(t *testing.T) {
				path := filepath.Join(out, a.Path)
				fields := run(t, dpkgDeb, "--field", path, "Package", "Version", "Architecture")
				want := "Package: " + a.Package + "\nVersion: " + testPkgVersion + "\nArchitecture: amd64"
				if strings.TrimSpace(fields) != want {
					t.Errorf("fields:\n%s\nwant:\n%s", fields, want)
				}
				var got []string
				for _, line := range strings.Split(run(t, dpkgDeb, "--contents", path), "\n") {
					// drwxr-xr-x root/root 0 2026-01-01 00:00 ./usr/bin/
					f := strings.Fields(line)
					if len(f) == 6 && !strings.HasPrefix(f[0], "d") {
						if f[1] != "root/root" {
							t.Errorf("%s is owned by %s", f[5], f[1])
						}
						got = append(got, strings.TrimPrefix(f[5], "."))
					}
				}
				if want := installedFiles(t, a.Package); !sameSet(got, want) {
					t.Errorf("contents %v, want %v", got, want)
				}
			})
		}
	})
	t.Run("rpm", func(t *testing.T) {
		rpm := testenv.LookPath(t, "rpm", "apt-get install rpm")
		for _, a := range rpms {
			t.Run(a.Package, func(t *testing.T) {
				path := filepath.Join(out, a.Path)
				if got, want := run(t, rpm, "-qp", "--qf", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH}", path), a.Package+" "+testPkgVersion+"-1 x86_64"; got != want {
					t.Errorf("header %q, want %q", got, want)
				}
				got := strings.Fields(run(t, rpm, "-qpl", path))
				if want := installedFiles(t, a.Package); !sameSet(got, want) {
					t.Errorf("contents %v, want %v", got, want)
				}
				scripts := run(t, rpm, "-qp", "--scripts", path)
				if a.Package != "airlock" && !strings.Contains(scripts, "systemd-sysusers "+a.Package+".conf") {
					t.Errorf("no sysusers call in the scripts:\n%s", scripts)
				}
				configs := strings.Fields(run(t, rpm, "-qpc", path))
				for _, p := range packages() {
					if p.name != a.Package {
						continue
					}
					for _, f := range p.files {
						if f.config != slices.Contains(configs, f.dst) {
							t.Errorf("%s: config %v, rpm says %v", f.dst, f.config, configs)
						}
					}
				}
			})
		}
	})
	t.Run("deb install", func(t *testing.T) {
		if !ptest.SystemWide() {
			t.Skip("installs packages on this machine: runs with CI=true or AIRLOCK_PACKAGE_TESTS=1")
		}
		var paths []string
		for _, a := range debs {
			paths = append(paths, filepath.Join(out, a.Path))
		}
		testDebInstall(t, paths)
	})
}

// checkSums recomputes every checksum in SHA256SUMS and checks that it
// lists every other artefact.
func checkSums(t *testing.T, out string, res *Result) {
	t.Helper()
	f, err := os.Open(filepath.Join(out, SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var listed []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, path, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		got, err := sha256File(filepath.Join(out, filepath.FromSlash(path)))
		if err != nil {
			t.Fatal(err)
		}
		if got != sum {
			t.Errorf("%s: sha256 %s, listed %s", path, got, sum)
		}
		listed = append(listed, path)
	}
	want := slices.DeleteFunc(res.Paths(), func(p string) bool { return p == SumsFile })
	if !sameSet(listed, want) {
		t.Errorf("%s lists %v, want %v", SumsFile, listed, want)
	}
}

// runVersion runs `PROGRAM --version` and returns its output line.
func runVersion(t *testing.T, bin string) string {
	t.Helper()
	return run(t, bin, "--version")
}

// run runs a command and returns its trimmed stdout, failing t on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
