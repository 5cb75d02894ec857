package kubeconfig

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

const testProxy = "socks5://airlock:s3cret@127.0.0.2:1080"

// logWriter sends slog output to t.Log until the test ends.
type logWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func testLog(tb testing.TB) *slog.Logger {
	w := &logWriter{tb: tb}
	tb.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// writeFile writes a kubeconfig into dir and returns its path.
func writeFile(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

func readFile(tb testing.TB, p string) string {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// replaceFile replaces p by rename, as editors and most tools do.
func replaceFile(tb testing.TB, p, content string) {
	tb.Helper()
	tmp := p + ".editor-tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		tb.Fatal(err)
	}
}

func newSyncer(tb testing.TB, opts Options) *Syncer {
	tb.Helper()
	log := testLog(tb)
	if _, bench := tb.(*testing.B); bench {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := New(log, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// startRun runs s.Run until the test ends.
func startRun(tb testing.TB, s *Syncer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
}

// proxyOf parses a kubeconfig and returns the proxy-url of entry name and whether it
// carries an Airlock record.
func proxyOf(tb testing.TB, content, name string) (proxy string, recorded bool) {
	tb.Helper()
	d, err := parseDocument([]byte(content))
	if err != nil {
		tb.Fatalf("kubeconfig does not parse: %v\n%s", err, content)
	}
	for _, e := range d.clusters {
		if e.name == name {
			if e.proxyVal != nil {
				proxy = e.proxyVal.Value
			}
			return proxy, e.rec != nil
		}
	}
	tb.Fatalf("no cluster %q in\n%s", name, content)
	return "", false
}

func isErr(err, target error) bool { return errors.Is(err, target) }
