package edge_test

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/testenv"
)

// msgHandler sends the message of every log record to msgs.
type msgHandler struct{ msgs chan<- string }

func (h msgHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h msgHandler) Handle(_ context.Context, r slog.Record) error {
	h.msgs <- r.Message
	return nil
}
func (h msgHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h msgHandler) WithGroup(string) slog.Handler      { return h }

// waitLog reads log messages until want, and fails at the test's deadline.
func waitLog(tb testing.TB, msgs <-chan string, want string) {
	tb.Helper()
	ctx := testenv.Context(tb)
	for {
		select {
		case m := <-msgs:
			if m == want {
				return
			}
		case <-ctx.Done():
			tb.Fatalf("no log %q before the test's deadline", want)
		}
	}
}

// TestServe runs the edge's whole life: it serves the config file, reloads
// it when asked and when the file changes, and returns nil when its context
// ends.
func TestServe(t *testing.T) {
	path, err := edge.Init(filepath.Join(t.TempDir(), "state"), edge.InitOptions{Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 1024)
	reload := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- edge.Serve(ctx, edge.ServeOptions{ConfigPath: path, Logger: slog.New(msgHandler{msgs}), Reload: reload})
	}()
	waitLog(t, msgs, "edge serving")

	steps := []struct {
		name string
		ask  func(testing.TB)
		want string
	}{
		{"reload request", func(testing.TB) { reload <- syscall.SIGHUP }, "edge config reloaded"},
		{"file change", func(tb testing.TB) {
			if _, err := edge.RotateKey(path); err != nil {
				tb.Fatal(err)
			}
		}, "config file changed; reloaded"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.ask(t)
			waitLog(t, msgs, st.want)
		})
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v after its context ended, want nil", err)
	}
	waitLog(t, msgs, "airlock-edge exiting")
}

func TestServeMissingConfig(t *testing.T) {
	err := edge.Serve(context.Background(), edge.ServeOptions{ConfigPath: filepath.Join(t.TempDir(), "nope.yaml")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Serve = %v, want a missing file error", err)
	}
}
