package dist

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// program is one of the binaries Airlock ships.
type program struct {
	name    string // binary name, without .exe
	pkg     string // Go package, relative to the module
	windows bool   // built for Windows too
}

func programs() []program {
	return []program{
		{name: "airlock", pkg: "./tray/cmd/airlock", windows: true},
		{name: "airlock-edge", pkg: "./edge/cmd/airlock-edge"},
		{name: "airlock-connector", pkg: "./connector/cmd/airlock-connector"},
	}
}

// LDFlags are the linker flags of every release binary: stripped, with
// the version and commit stamped (the same as the Makefile's LDFLAGS).
func LDFlags(version, commit string) string {
	return "-s -w -X github.com/airlockhq/airlock/internal/buildinfo.version=" + version +
		" -X github.com/airlockhq/airlock/internal/buildinfo.commit=" + commit
}

// buildPrograms builds the programs of target t into OUT/OS-ARCH/.
func (o *Options) buildPrograms(ctx context.Context, t Target, pv PackageVersion) ([]Artifact, error) {
	var out []Artifact
	for _, p := range programs() {
		if t.OS == "windows" && !p.windows {
			continue
		}
		name := p.name
		if t.OS == "windows" {
			name += ".exe"
		}
		rel := path.Join(t.String(), name)
		dst := filepath.Join(o.Out, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, fmt.Errorf("dist: %w", err)
		}
		o.Log.Info("dist: build", "program", p.name, "target", t.String())
		build := func() error { return o.goBuild(ctx, t, p.pkg, dst) }
		if t.OS == "windows" {
			if err := o.withWindowsResources(p, pv, build); err != nil {
				return nil, err
			}
			if err := checkWindowsResources(dst); err != nil {
				return nil, err
			}
			if o.Sign != nil {
				o.Log.Info("dist: sign", "file", rel)
				if err := o.Sign.sign(ctx, dst); err != nil {
					return nil, err
				}
			}
		} else if err := build(); err != nil {
			return nil, err
		}
		out = append(out, Artifact{Path: rel, Kind: "binary", Target: t})
	}
	return out, nil
}

// goBuild runs go build for one package and target, without cgo.
func (o *Options) goBuild(ctx context.Context, t Target, pkg, dst string) error {
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-ldflags", LDFlags(o.Version, o.Commit), "-o", dst, pkg)
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch)
	var tail tailWriter
	cmd.Stdout = &tail
	cmd.Stderr = &tail
	err := cmd.Run()
	if _, werr := o.BuildOutput.Write(tail.buf); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("dist: go build %s for %s: %w\n%s", pkg, t, err, strings.TrimSpace(string(tail.buf)))
	}
	return nil
}

// tailWriter keeps the last 8 KiB written to it.
type tailWriter struct{ buf []byte }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	if n := len(w.buf) - 8<<10; n > 0 {
		w.buf = w.buf[n:]
	}
	return len(p), nil
}
