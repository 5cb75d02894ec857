// Package dist builds Airlock's release, what `make dist` runs: the three
// programs for Linux (amd64, arm64) and airlock.exe for Windows amd64, all
// without cgo and stamped with the version and commit; .deb and .rpm
// packages (nfpm as a library) that put the units, desktop entries and
// icons from packaging/ in their standard places; the Windows version
// resource and icon; Authenticode signing with osslsigncode when a
// certificate is given; and SHA256SUMS. [Command] is its command line,
// airlock-dist.
package dist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Target is a GOOS/GOARCH pair.
type Target struct{ OS, Arch string }

func (t Target) String() string { return t.OS + "-" + t.Arch }

// DefaultTargets are what `make dist` builds.
func DefaultTargets() []Target {
	return []Target{{"linux", "amd64"}, {"linux", "arm64"}, {"windows", "amd64"}}
}

// Formats are the Linux package formats Build makes by default.
func Formats() []string { return []string{"deb", "rpm"} }

// Options configure Build. Out is required; every other zero value means
// the default.
type Options struct {
	// Root is the module folder (with go.mod and packaging/). "" means the
	// module of the current folder, as `go env GOMOD` names it.
	Root string
	// Out is where the release goes. It must be missing or empty; on
	// failure Build removes what it wrote there.
	Out string
	// Version and Commit are stamped into every binary (buildinfo.version and
	// edge.commit) and name the packages. Version is as `git describe
	// --tags --always --dirty` prints it; see [ParsePackageVersion].
	Version, Commit string
	// Targets to build; nil means [DefaultTargets]. Linux targets get all
	// three programs and packages; windows/amd64 gets airlock.exe.
	Targets []Target
	// Formats of the Linux packages ("deb", "rpm"); nil means [Formats].
	Formats []string
	// Sign, when set, signs airlock.exe with osslsigncode.
	Sign *SignOptions
	// Go is the go command; "" means "go" from PATH.
	Go string
	// Log gets a line per step; nil means none.
	Log *slog.Logger
	// BuildOutput gets the go command's own output; nil means none.
	BuildOutput io.Writer
}

// Artifact is one file of the release.
type Artifact struct {
	Path    string // relative to Options.Out, with forward slashes
	Kind    string // "binary", "deb", "rpm" or "checksums"
	Target  Target // zero for checksums
	Package string // the package name for "deb" and "rpm"
}

// Result lists what Build wrote, in order.
type Result struct {
	Version   PackageVersion
	Artifacts []Artifact
}

// Paths returns every artefact's path relative to Out.
func (r *Result) Paths() []string {
	var out []string
	for _, a := range r.Artifacts {
		out = append(out, a.Path)
	}
	return out
}

// Build builds the release described by o into o.Out.
func Build(ctx context.Context, o Options) (res *Result, err error) {
	if err := o.resolve(ctx); err != nil {
		return nil, err
	}
	pv, err := ParsePackageVersion(o.Version, o.Commit)
	if err != nil {
		return nil, err
	}
	created, err := prepareOut(o.Out)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cleanOut(o.Out, created)
		}
	}()
	stage, err := os.MkdirTemp("", "airlock-dist-")
	if err != nil {
		return nil, fmt.Errorf("dist: %w", err)
	}
	defer os.RemoveAll(stage)

	res = &Result{Version: pv}
	for _, t := range o.Targets {
		bins, err := o.buildPrograms(ctx, t, pv)
		if err != nil {
			return nil, err
		}
		res.Artifacts = append(res.Artifacts, bins...)
		if t.OS != "linux" {
			continue
		}
		for _, p := range packages() {
			for _, format := range o.Formats {
				a, err := o.buildPackage(p, format, t.Arch, pv, stage)
				if err != nil {
					return nil, err
				}
				res.Artifacts = append(res.Artifacts, a)
			}
		}
	}
	sums, err := writeSums(o.Out, res.Paths())
	if err != nil {
		return nil, err
	}
	res.Artifacts = append(res.Artifacts, Artifact{Path: sums, Kind: "checksums"})
	o.Log.Info("dist: done", "out", o.Out, "version", pv.String(), "files", len(res.Artifacts))
	return res, nil
}

// resolve checks o and fills in its defaults.
func (o *Options) resolve(ctx context.Context) error {
	if o.Out == "" {
		return errors.New("dist: no output folder given")
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.BuildOutput == nil {
		o.BuildOutput = io.Discard
	}
	if o.Targets == nil {
		o.Targets = DefaultTargets()
	}
	if o.Formats == nil {
		o.Formats = Formats()
	}
	for _, t := range o.Targets {
		switch t {
		case Target{"linux", "amd64"}, Target{"linux", "arm64"}, Target{"windows", "amd64"}:
		default:
			return fmt.Errorf("dist: target %s: want linux-amd64, linux-arm64 or windows-amd64", t)
		}
	}
	for _, f := range o.Formats {
		if !slices.Contains(Formats(), f) {
			return fmt.Errorf("dist: package format %q: want deb or rpm", f)
		}
	}
	if o.Root == "" {
		out, err := exec.CommandContext(ctx, o.Go, "env", "GOMOD").Output()
		if err != nil {
			return fmt.Errorf("dist: find the module: go env GOMOD: %w", err)
		}
		mod := strings.TrimSpace(string(out))
		if mod == "" || mod == os.DevNull {
			return errors.New("dist: not inside a Go module: set the module folder")
		}
		o.Root = filepath.Dir(mod)
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return fmt.Errorf("dist: %w", err)
	}
	o.Root = root
	if _, err := os.Stat(filepath.Join(root, "packaging", "systemd", "airlock.service")); err != nil {
		return fmt.Errorf("dist: %s is not the Airlock module folder: %w", root, err)
	}
	if o.Out, err = filepath.Abs(o.Out); err != nil {
		return fmt.Errorf("dist: %w", err)
	}
	return nil
}

// prepareOut makes sure out exists and is empty; created says whether it
// made the folder.
func prepareOut(out string) (created bool, err error) {
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(out, 0o755); err != nil {
			return false, fmt.Errorf("dist: %w", err)
		}
		return true, nil
	case err != nil:
		return false, fmt.Errorf("dist: output folder: %w", err)
	case len(entries) > 0:
		return false, fmt.Errorf("dist: output folder %s is not empty (remove it first)", out)
	}
	return false, nil
}

// cleanOut removes what a failed Build wrote.
func cleanOut(out string, created bool) {
	if created {
		os.RemoveAll(out)
		return
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(out, e.Name()))
	}
}
