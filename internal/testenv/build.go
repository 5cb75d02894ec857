package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BuildBinaries builds the main packages pkgs (import paths, or patterns
// relative to the test's package folder, such as ".") and returns the
// folder that holds their programs, each named after the last element of
// its import path.
//
// Each program is built once per test run: `go test ./...` starts every
// package's test binary itself, and all of them share one folder under
// the temporary folder, named after that go command, behind a file lock
// (a test binary that something else started has a folder of its own).
// The programs have the race detector when this test binary has it. A
// later run removes the folders of runs whose go command has ended.
func BuildBinaries(tb testing.TB, pkgs ...string) string {
	tb.Helper()
	dir, _ := build(tb, pkgs)
	return dir
}

// BuildBinary builds the main package pkg as [BuildBinaries] does and
// returns the path of its program.
func BuildBinary(tb testing.TB, pkg string) string {
	tb.Helper()
	dir, importPaths := build(tb, []string{pkg})
	return filepath.Join(dir, path.Base(importPaths[0]))
}

// build is BuildBinaries, which also returns the packages' import paths.
func build(tb testing.TB, pkgs []string) (dir string, importPaths []string) {
	tb.Helper()
	ctx := Context(tb)
	out, err := exec.CommandContext(ctx, "go", append([]string{"list", "-f", "{{.Name}} {{.ImportPath}}"}, pkgs...)...).Output()
	if err != nil {
		tb.Fatalf("testenv: go list %s: %v\n%s", strings.Join(pkgs, " "), err, stderrOf(err))
	}
	dir, unlock, err := runFolder(ctx)
	if err != nil {
		tb.Fatalf("testenv: the build folder: %v", err)
	}
	defer unlock()
	var toBuild []string
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		name, importPath, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name != "main" {
			tb.Fatalf("testenv: %s is package %s, not a program", importPath, name)
		}
		importPaths = append(importPaths, importPath)
		// The stamp, written after a build, says which package the
		// program in the folder is.
		stamp := filepath.Join(dir, path.Base(importPath)+".pkg")
		switch b, err := os.ReadFile(stamp); {
		case err == nil && string(b) != importPath:
			tb.Fatalf("testenv: %s and %s both build %s", b, importPath, path.Base(importPath))
		case err == nil:
			continue // built earlier in this run
		case !errors.Is(err, os.ErrNotExist):
			tb.Fatal(err)
		}
		toBuild = append(toBuild, importPath)
	}
	if len(toBuild) == 0 {
		return dir, importPaths
	}
	// No -trimpath: a program may find its module's files from its own
	// source paths (kapitest's kube-apiserver source, for airlock-demo).
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if race {
		args = append(args, "-race")
	}
	if b, err := exec.CommandContext(ctx, "go", append(args, toBuild...)...).CombinedOutput(); err != nil {
		tb.Fatalf("testenv: go %s: %v\n%s", strings.Join(append(args, toBuild...), " "), err, b)
	}
	for _, p := range toBuild {
		if err := os.WriteFile(filepath.Join(dir, path.Base(p)+".pkg"), []byte(p), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir, importPaths
}

// runFolder returns this test run's build folder, locked until unlock is
// called, and removes the folders of runs that have ended.
func runFolder(ctx context.Context) (dir string, unlock func(), err error) {
	top := filepath.Join(os.TempDir(), "airlock-testbin")
	if err := os.MkdirAll(top, 0o755); err != nil {
		return "", nil, err
	}
	owner := os.Getppid()
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", owner)); err != nil || strings.TrimSpace(string(comm)) != "go" {
		owner = os.Getpid()
	}
	id, err := processID(owner)
	if err != nil {
		return "", nil, err
	}
	flavour := "norace"
	if race {
		flavour = "race"
	}
	dir = filepath.Join(top, id, flavour)
	topUnlock, err := LockFile(ctx, filepath.Join(top, ".lock"), func() {})
	if err != nil {
		return "", nil, err
	}
	if _, err := os.Stat(filepath.Join(top, id)); errors.Is(err, os.ErrNotExist) {
		removeEnded(top)
	}
	err = os.MkdirAll(dir, 0o755)
	topUnlock()
	if err != nil {
		return "", nil, err
	}
	unlock, err = LockFile(ctx, filepath.Join(dir, ".lock"), func() {})
	return dir, unlock, err
}

// removeEnded removes the folders in top of processes that have ended.
func removeEnded(top string) {
	entries, err := os.ReadDir(top)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, _, ok := strings.Cut(e.Name(), "-")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || !e.IsDir() {
			continue
		}
		if id, err := processID(n); err != nil || id != e.Name() {
			_ = os.RemoveAll(filepath.Join(top, e.Name()))
		}
	}
}

// processID names process pid by its pid and its start time, which a
// later process with the same pid does not share.
func processID(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// After "pid (comm) ", whose comm may hold anything, the start time
	// is the 20th field (field 22 of proc(5)).
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(fields) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	return fmt.Sprintf("%d-%s", pid, fields[19]), nil
}

func stderrOf(err error) []byte {
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.Stderr
	}
	return nil
}
