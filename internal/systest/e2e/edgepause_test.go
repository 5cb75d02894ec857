package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestEdgePausedPastIdleTimeout: the edge SIGSTOPped for longer than the
// idle timeout, then SIGCONT. The connector notices the dead connection,
// and while the edge answers nothing it dials again every silent retry
// (250 ms, paced by the handshake timeout) instead of backing off further:
// every "retrying" line after the stop waits at most that, so it is
// connected again as soon as the edge answers, and the first request
// after the resume succeeds.
func TestEdgePausedPastIdleTimeout(t *testing.T) {
	const url = "http://kubernetes.default.svc/"
	s := startStack(t, stack.Options{Origin: httpOrigin(t), HA: 1})
	get(t, s, url)
	mark := len(s.Connector.Output())
	pid := s.Edge.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) }) //nolint:errcheck // it may have exited
	retry := regexp.MustCompile(`msg="edge connection down; retrying".*? retry_in=(\S+)`)
	// Past the idle timeout (5 s): the connection died of it and the
	// connector dialled the silent edge again three times.
	testenv.Eventually(t, "the connector to notice the dead edge and dial it again three times", func() error {
		if n := len(retry.FindAllString(s.Connector.Output()[mark:], -1)); n < 4 {
			return fmt.Errorf("%d retries so far", n)
		}
		return nil
	})
	if ready(t, s.ConnAdmin) {
		t.Fatal("the connector says ready while its only edge is stopped")
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the connector to be connected again", func() bool { return ready(t, s.ConnAdmin) })
	get(t, s, url) // the first request after the resume
	lines := retry.FindAllStringSubmatch(s.Connector.Output()[mark:], -1)
	for _, m := range lines {
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatalf("retry_in %q: %v", m[1], err)
		}
		if d > 250*time.Millisecond {
			t.Errorf("the connector backed off %v from an edge that answered nothing: %s", d, m[0])
		}
	}
	t.Logf("%d redials while the edge was stopped, none backed off more than 250 ms", len(lines))
}

// TestDaemonPausedPastIdleTimeout: the daemon SIGSTOPped (a laptop's lid
// closed) until the edge has closed its connection for idleness, then
// SIGCONT. The first request after the resume succeeds: the daemon does not
// hand it to the connection the edge has forgotten, and it is on a new
// connection, not the old one.
func TestDaemonPausedPastIdleTimeout(t *testing.T) {
	const url = "http://kubernetes.default.svc/"
	s := startStack(t, stack.Options{Origin: httpOrigin(t)})
	get(t, s, url)
	mark := len(s.Edge.Output())
	pid := s.Daemon.PID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) }) //nolint:errcheck // it may have exited
	idleClosed := regexp.MustCompile(`msg="connection closed".* role=client .*cause="timeout: no recent network activity"`)
	testenv.Eventually(t, "the edge to close the stopped daemon's connection for idleness", func() bool {
		return idleClosed.MatchString(s.Edge.Output()[mark:])
	})
	accepted := strings.Count(s.Edge.Output()[mark:], `msg="connection accepted"`)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	if err := tryGet(s, url); err != nil {
		t.Fatalf("the first request after the resume: %v", err)
	}
	t.Logf("the first request after the resume took %v", time.Since(resumed))
	if n := strings.Count(s.Edge.Output()[mark:], `msg="connection accepted"`); n <= accepted {
		t.Errorf("the first request after the resume went through no new connection (%d accepted before the resume, %d after)", accepted, n)
	}
}

// ready reports whether the connector's /ready answers 200 (connected,
// not draining).
func ready(tb testing.TB, admin string) bool {
	tb.Helper()
	resp, err := http.Get(admin + "/ready")
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
