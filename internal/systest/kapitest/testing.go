package kapitest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// Start runs a kube-apiserver for tb, in tb.TempDir unless opts.Dir is set,
// and stops it in tb.Cleanup. When it cannot build or start one, it skips
// the test, or fails it when CI=true. Build progress goes to stderr.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	if opts.BuildLog == nil {
		opts.BuildLog = os.Stderr
	}
	ctx := context.Background()
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := d.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline.Add(-5*time.Second))
			defer cancel()
		}
	}
	s, err := StartProcess(ctx, opts)
	if err != nil {
		testenv.Missing(tb, "kapitest: a kube-apiserver: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("kube-apiserver log tail (%s):\n%s", s.LogFile, s.LogTail(3000))
			if s.KubeletLogFile != "" {
				tb.Logf("kubelet stand-in log tail (%s):\n%s", s.KubeletLogFile, s.KubeletLogTail(3000))
			}
		}
		if err := s.Close(); err != nil {
			tb.Errorf("kapitest: %v", err)
		}
	})
	return s
}
