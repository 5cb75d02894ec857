package connector_test

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestDrainedConnectionClosedByEdge: on shutdown, once its last stream has
// ended, a connector tells the edge it has read everything (FIN on the
// control stream) and the edge closes the connection at once, so Run
// returns without the fallback linger (a full second).
func TestDrainedConnectionClosedByEdge(t *testing.T) {
	s := newRealSetup(t, func(c *connector.Config) { c.Grace = 30 * time.Second })
	sc, err := s.open(t, testApp, "")
	if err != nil {
		t.Fatal(err)
	}
	// Another connector of the tunnel is connected: the leaving one hands
	// over at once (a lone one would serve through its grace period).
	creds, err := credentials.ReadCredentials(s.tun.CredentialsFile)
	if err != nil {
		t.Fatal(err)
	}
	other := startConnector(t, creds, rules(t, testApp+"="+s.origin.url()), nil)
	other.waitReady(t, "two healthy connections", func(code int, st connector.Status) bool {
		return code == 200 && len(st.Connections) == 2 && st.Connections[0].Healthy && st.Connections[1].Healthy
	})
	s.run.stop()
	s.run.waitReady(t, "draining", func(_ int, st connector.Status) bool { return st.Draining })
	echoRoundTrip(t, sc, sc.CloseWrite, "last words")
	sc.Close()
	start := time.Now()
	if err := s.run.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Fatalf("Run returned %v after the last stream ended; the edge should close the drained connections at once", took)
	}
}

// TestRollingRestart replaces the two connectors of a tunnel, one at a time
// (each twice), while clients keep opening streams: none of them fails. Streams
// that reach a connector after it began to drain, before the edge heard of
// it, are answered with CodeGoingAway and retried by the edge on another
// connection.
func TestRollingRestart(t *testing.T) {
	s := newRealSetup(t, nil)
	creds, err := credentials.ReadCredentials(s.tun.CredentialsFile)
	if err != nil {
		t.Fatal(err)
	}
	start := func() *running {
		r := startConnector(t, creds, rules(t, testApp+"="+s.origin.url()), nil)
		r.waitReady(t, "two healthy connections", func(code int, st connector.Status) bool {
			return code == 200 && len(st.Connections) == 2 && st.Connections[0].Healthy && st.Connections[1].Healthy
		})
		return r
	}
	second := start()

	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		streams atomic.Int64
		mu      sync.Mutex
		errs    []error
	)
	tok := s.edge.MintToken(t, testApp, testEmail, time.Hour)
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := echoOnce(s, tok); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				streams.Add(1)
			}
		})
	}
	waitStreams := func(n int64) {
		t.Helper()
		target := streams.Load() + n
		testenv.Eventually(t, fmt.Sprintf("%d streams", target), func() error {
			if got := streams.Load(); got < target {
				return fmt.Errorf("streams stalled at %d", got)
			}
			return nil
		})
	}

	waitStreams(20)
	live := []*running{s.run, second}
	for i := range 4 { // each connector replaced twice
		old := live[i%2]
		old.stop()
		if err := old.wait(t, 15*time.Second); err != nil {
			t.Fatalf("restart %d: Run = %v", i, err)
		}
		waitStreams(20)
		live[i%2] = start()
		waitStreams(20)
	}
	cancel()
	wg.Wait()
	t.Logf("%d streams through four connector restarts", streams.Load())
	for _, err := range errs {
		t.Errorf("a client stream failed: %v", err)
	}
}

// echoOnce opens a stream, echoes a message through it and closes it.
func echoOnce(s *realSetup, tok string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc, err := s.client.Open(ctx, &wire.Open{App: testApp, Token: tok})
	if err != nil {
		return err
	}
	defer sc.Close()
	sc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(sc, "ping"); err != nil {
		return err
	}
	if err := sc.CloseWrite(); err != nil {
		return err
	}
	b, err := io.ReadAll(sc)
	if err != nil {
		return err
	}
	if string(b) != "ping" {
		return io.ErrUnexpectedEOF
	}
	return nil
}
