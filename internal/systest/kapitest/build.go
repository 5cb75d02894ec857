package kapitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
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
	// EnvCache is the cache folder for built binaries.
	EnvCache = "AIRLOCK_KAPI_CACHE"
)

// srcDirName is the nested module's folder, beside this file.
const srcDirName = "kube-apiserver"

// progressEvery is how often Build reports that a build is still running.
const progressEvery = 30 * time.Second

// Build returns the path of the kube-apiserver binary, building it first if
// the cache has none for this version and source. Progress lines go to logw
// (may be nil). Concurrent callers, in this process or others, build once:
// the others wait on a file lock. The binary appears in the cache by an
// atomic rename, so a reader never sees half a file.
func Build(ctx context.Context, logw io.Writer) (string, error) {
	if bin := os.Getenv(EnvBin); bin != "" {
		return bin, nil
	}
	if logw == nil {
		logw = io.Discard
	}
	src, err := sourceDir()
	if err != nil {
		return "", err
	}
	key, err := sourceKey(src)
	if err != nil {
		return "", err
	}
	root, err := cacheRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, Version+"-"+key)
	bin := filepath.Join(dir, binName())
	if fileExists(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kube-apiserver cache: %w", err)
	}
	unlock, err := testenv.LockFile(ctx, filepath.Join(dir, "build.lock"), func() {
		fmt.Fprintf(logw, "waiting for another process building kube-apiserver %s into %s…\n", Version, dir)
	})
	if err != nil {
		return "", fmt.Errorf("kube-apiserver build lock: %w", err)
	}
	defer unlock()
	if fileExists(bin) { // built while we waited
		return bin, nil
	}
	if err := goBuild(ctx, logw, src, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// goBuild compiles the nested module into a temporary file beside bin and
// renames it into place. The flags never vary, so Go's build cache is reused.
func goBuild(ctx context.Context, logw io.Writer, src, bin string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("building kube-apiserver needs the go tool: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(bin), ".build-*")
	if err != nil {
		return fmt.Errorf("kube-apiserver cache: %w", err)
	}
	tmpName := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpName) // no-op after the rename

	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags(), "-o", tmpName, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	fmt.Fprintf(logw, "building kube-apiserver %s (first time: ~8–12 min on 2 cores, seconds with a warm Go build cache) into %s…\n", Version, filepath.Dir(bin))
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("go build kube-apiserver: %w", err)
	}
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			fmt.Fprintf(logw, "building kube-apiserver %s: %s elapsed\n", Version, time.Since(start).Round(time.Second))
		case err := <-done:
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("go build kube-apiserver: %w", context.Cause(ctx))
				}
				return fmt.Errorf("go build kube-apiserver: %w\n%s", err, tail(out.Bytes(), 4000))
			}
			if err := os.Chmod(tmpName, 0o755); err != nil {
				return fmt.Errorf("kube-apiserver cache: %w", err)
			}
			if err := os.Rename(tmpName, bin); err != nil {
				return fmt.Errorf("kube-apiserver cache: %w", err)
			}
			fmt.Fprintf(logw, "built kube-apiserver %s in %s: %s\n", Version, time.Since(start).Round(time.Second), bin)
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

// sourceKey hashes the nested module's go.mod, go.sum and Go files, so a
// change to them builds a new binary instead of reusing a stale one.
func sourceKey(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("kube-apiserver source: %w", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && (n == "go.mod" || n == "go.sum" || strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go")) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", Version, ldflags())
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return "", fmt.Errorf("kube-apiserver source: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
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

func binName() string {
	if runtime.GOOS == "windows" {
		return "kube-apiserver.exe"
	}
	return "kube-apiserver"
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
