package kapitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// Version is the kube-apiserver version the nested module builds.
const Version = "v1.37.2"

// Environment variables read by [Build].
const (
	// EnvBin names a ready kube-apiserver binary; Build returns it unchecked.
	EnvBin = "AIRLOCK_KAPI_BIN"
	// EnvKubeletBin names a ready kubelet-standin binary; BuildKubelet
	// returns it unchecked.
	EnvKubeletBin = "AIRLOCK_KAPI_KUBELET_BIN"
	// EnvCache is the cache folder for built binaries.
	EnvCache = "AIRLOCK_KAPI_CACHE"
)

// srcDirName is the nested module's folder, beside this file.
const srcDirName = "kube-apiserver"

// progressEvery is how often Build reports that a build is still running.
const progressEvery = 30 * time.Second

// program is one binary the nested module builds.
type program struct {
	name   string   // binary name without .exe, and what progress lines call it
	pkg    string   // package to build, relative to the module
	envBin string   // names a ready binary
	dirs   []string // folders whose Go files make the cache key ("." is the module's top level, not below it)
	note   string   // how long a first build takes
}

var (
	apiServerProgram = program{
		name: "kube-apiserver", pkg: ".", envBin: EnvBin, dirs: []string{"."},
		note: "first time: ~8–12 min on 2 cores, seconds with a warm Go build cache",
	}
	kubeletProgram = program{
		name: "kubelet-standin", pkg: "./cmd/kubelet-standin", envBin: EnvKubeletBin,
		dirs: []string{"cmd/kubelet-standin", "kubelet"},
		note: "first time: a few minutes on 2 cores, seconds with a warm Go build cache",
	}
)

// Build returns the path of the kube-apiserver binary, building it first if
// the cache has none for this version and source. Progress lines go to logw
// (may be nil). Concurrent callers, in this process or others, build once:
// the others wait on a file lock. The binary appears in the cache by an
// atomic rename, so a reader never sees half a file.
func Build(ctx context.Context, logw io.Writer) (string, error) {
	return build(ctx, logw, apiServerProgram)
}

// BuildKubelet is [Build] for the kubelet stand-in (package kubelet of the
// same nested module), with its own cache key: a change to it does not
// relink the kube-apiserver.
func BuildKubelet(ctx context.Context, logw io.Writer) (string, error) {
	return build(ctx, logw, kubeletProgram)
}

func build(ctx context.Context, logw io.Writer, prog program) (string, error) {
	if bin := os.Getenv(prog.envBin); bin != "" {
		return bin, nil
	}
	if logw == nil {
		logw = io.Discard
	}
	src, err := sourceDir()
	if err != nil {
		return "", err
	}
	key, err := sourceKey(src, prog.dirs)
	if err != nil {
		return "", err
	}
	root, err := cacheRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, Version+"-"+key)
	bin := filepath.Join(dir, binName(prog.name))
	if fileExists(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s cache: %w", prog.name, err)
	}
	unlock, err := testenv.LockFile(ctx, filepath.Join(dir, "build.lock"), func() {
		fmt.Fprintf(logw, "waiting for another process building %s %s into %s…\n", prog.name, Version, dir)
	})
	if err != nil {
		return "", fmt.Errorf("%s build lock: %w", prog.name, err)
	}
	defer unlock()
	if fileExists(bin) { // built while we waited
		return bin, nil
	}
	if err := goBuild(ctx, logw, src, prog, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// goBuild compiles the nested module into a temporary file beside bin and
// renames it into place. The flags never vary, so Go's build cache is reused.
func goBuild(ctx context.Context, logw io.Writer, src string, prog program, bin string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building %s needs the go tool: %w", prog.name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(bin), ".build-*")
	if err != nil {
		return fmt.Errorf("%s cache: %w", prog.name, err)
	}
	tmpName := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpName) // no-op after the rename

	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags(), "-o", tmpName, prog.pkg)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	fmt.Fprintf(logw, "building %s %s (%s) into %s…\n", prog.name, Version, prog.note, filepath.Dir(bin))
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("go build %s: %w", prog.name, err)
	}
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			fmt.Fprintf(logw, "building %s %s: %s elapsed\n", prog.name, Version, time.Since(start).Round(time.Second))
		case err := <-done:
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("go build %s: %w", prog.name, context.Cause(ctx))
				}
				return fmt.Errorf("go build %s: %w\n%s", prog.name, err, tail(out.Bytes(), 4000))
			}
			if err := os.Chmod(tmpName, 0o755); err != nil {
				return fmt.Errorf("%s cache: %w", prog.name, err)
			}
			if err := os.Rename(tmpName, bin); err != nil {
				return fmt.Errorf("%s cache: %w", prog.name, err)
			}
			fmt.Fprintf(logw, "built %s %s in %s: %s\n", prog.name, Version, time.Since(start).Round(time.Second), bin)
			return nil
		}
	}
}

// ldflags stamps the version so kubectl does not see v0.0.0-master, and
// strips symbols (170 MB → 119 MB).
func ldflags() string {
	major, minor, _ := strings.Cut(strings.TrimPrefix(Version, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	f := []string{"-s", "-w"}
	for _, p := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		f = append(f, "-X", p+".gitVersion="+Version, "-X", p+".gitMajor="+major, "-X", p+".gitMinor="+minor)
	}
	return strings.Join(f, " ")
}

// sourceDir finds the nested module: beside this file when the test binary
// was built without -trimpath, else under the main module's root.
func sourceDir() (string, error) {
	var tried []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		d := filepath.Join(filepath.Dir(file), srcDirName)
		if fileExists(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		tried = append(tried, d)
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull {
			d := filepath.Join(filepath.Dir(gomod), "internal", "systest", "kapitest", srcDirName)
			if fileExists(filepath.Join(d, "go.mod")) {
				return d, nil
			}
			tried = append(tried, d)
		}
	}
	return "", fmt.Errorf("kube-apiserver source module not found (tried %s); run from inside the airlock module or set %s", strings.Join(tried, ", "), EnvBin)
}

// sourceKey hashes the nested module's go.mod and go.sum and the Go files
// (not tests) in dirs, so a change to them builds a new binary instead of
// reusing a stale one. "." is the top level only; other folders count with
// everything below them.
func sourceKey(root string, dirs []string) (string, error) {
	var names []string
	for _, n := range []string{"go.mod", "go.sum"} {
		if fileExists(filepath.Join(root, n)) {
			names = append(names, n)
		}
	}
	for _, d := range dirs {
		if d == "." {
			entries, err := os.ReadDir(root)
			if err != nil {
				return "", fmt.Errorf("kube-apiserver source: %w", err)
			}
			for _, e := range entries {
				if e.Type().IsRegular() && isSource(e.Name()) {
					names = append(names, e.Name())
				}
			}
			continue
		}
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == filepath.Join(root, d) {
				return nil // no such folder: nothing to hash
			}
			if err != nil {
				return err
			}
			if e.Type().IsRegular() && isSource(e.Name()) {
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				names = append(names, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("kube-apiserver source: %w", err)
		}
	}
	slices.Sort(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", Version, ldflags())
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(n)))
		if err != nil {
			return "", fmt.Errorf("kube-apiserver source: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

func isSource(name string) bool {
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
}

// cacheRoot is $AIRLOCK_KAPI_CACHE, else the user cache folder + airlock/kapi.
func cacheRoot() (string, error) {
	if d := os.Getenv(EnvCache); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kube-apiserver cache: set %s: %w", EnvCache, err)
	}
	return filepath.Join(d, "airlock", "kapi"), nil
}

func binName(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// tail returns the last n bytes of b, marked when cut.
func tail(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return "…" + string(b[len(b)-n:])
}
