package e2e

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestLoneConnectorRestart: the real kubectl in a loop against the real
// kube-apiserver while the tunnel's only connector gets SIGTERM and a new
// one starts. The leaving connector keeps taking new streams (the edge has
// nowhere else to route them), the edge hands over when the successor
// connects, the old one exits within its grace, and no kubectl fails.
func TestLoneConnectorRestart(t *testing.T) {
	s := startStack(t, stack.Options{KubeAPI: kapitest.Options{}, ConnectorArgs: []string{"--grace", "60s"}})
	bin := testenv.File(t, "/usr/bin/kubectl", "apt-get install kubectl")
	ctx := testenv.Context(t)

	var (
		ok, failed atomic.Int64
		mu         sync.Mutex
		failures   []string
		stop       = make(chan struct{})
		wg         sync.WaitGroup
	)
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if out, err := runKubectl(s, bin, "get", "--raw", "/version"); err != nil {
				failed.Add(1)
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%v (%s)", err, out))
				mu.Unlock()
			} else {
				ok.Add(1)
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	more := func(what string, n int64) {
		t.Helper()
		target := ok.Load() + n
		testenv.Eventually(t, fmt.Sprintf("%d more kubectl calls %s", n, what), func() error {
			if got := ok.Load(); got < target {
				return fmt.Errorf("%d ok, %d failed", got, failed.Load())
			}
			return nil
		})
	}
	more("before the restart", 3)

	old := s.Connector
	if err := syscall.Kill(old.PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.Edge.WaitOutput(ctx, "the tunnel's only connector here is leaving"); err != nil {
		t.Fatalf("the edge did not keep the leaving lone connector: %v", err)
	}
	more("while the lone connector is leaving", 5)
	if old.Exited() {
		t.Fatal("the leaving connector exited before a successor connected")
	}

	next, _, err := s.StartConnectorInstance(ctx)
	if err != nil {
		t.Fatalf("successor connector: %v", err)
	}
	// Alone in its turn, the successor would serve through its 60 s
	// grace on SIGTERM; the test is done with it by then.
	t.Cleanup(next.Kill)
	if err := s.Edge.WaitOutput(ctx, "a successor connected: the leaving connector hands over"); err != nil {
		t.Fatalf("the edge did not hand over: %v", err)
	}
	select {
	case <-old.Done():
	case <-ctx.Done():
		t.Fatal("the old connector did not exit after the handover")
	}
	more("after the old connector exited", 5)
	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d kubectl calls through the restart, %d failed", ok.Load(), failed.Load())
	for _, f := range failures {
		t.Errorf("kubectl failed: %s", f)
	}
}
