package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestQuietConnectorSkipped runs two connector instances of one tunnel, one
// connection each, and SIGSTOPs one: once the edge calls that connection
// quiet (it stopped pinging), every new stream goes to the live connector
// although the stopped one's connection is still open at the edge. After
// SIGCONT the edge hears the resumed connection again, and it takes the
// streams once the other connector is stopped.
func TestQuietConnectorSkipped(t *testing.T) {
	const url = "http://kubernetes.default.svc/"
	s := startStack(t, stack.Options{Origin: httpOrigin(t), HA: 1})
	get(t, s, url)
	ctx := testenv.Context(t)
	second, secondAdmin, err := s.StartConnectorInstance(ctx)
	if err != nil {
		t.Fatalf("second connector instance: %v", err)
	}
	t.Cleanup(func() {
		if !second.Exited() {
			second.Kill()
		}
	})
	firstID, secondID := connectorID(t, s.ConnAdmin), connectorID(t, secondAdmin)

	// Each instance's one connection has pinged the edge: only a
	// connection that pings can be called quiet.
	var firstConn, secondConn string
	testenv.Eventually(t, "both connectors' connections at the edge, each heard from a Ping", func() error {
		conns, err := tunnelConns(ctx, s)
		if err != nil {
			return err
		}
		for _, c := range []struct {
			id   string
			conn *string
		}{{firstID, &firstConn}, {secondID, &secondConn}} {
			cs := conns[c.id]
			if len(cs) != 1 || cs[0].HeardAt == nil {
				return fmt.Errorf("connector %s: connections %+v, want one that pinged", c.id, cs)
			}
			*c.conn = cs[0].ConnID
		}
		return nil
	})

	pid := s.Connector.PID()
	mark := len(s.Edge.Output())
	stopped := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) }) //nolint:errcheck // it may have exited
	var quietAt time.Time
	var line string
	testenv.Eventually(t, "the edge to call the stopped connector's connection quiet (log and /healthz)", func() (err error) {
		if quietAt, line, err = edgeLogLine(s.Edge.Output()[mark:], "connector connection went quiet", firstConn); err != nil {
			return err
		}
		return connIs(ctx, s, firstID, firstConn, true)
	})
	t.Logf("the edge stopped routing to the SIGSTOPped connector's connection %s after SIGSTOP: %s",
		quietAt.Sub(stopped).Round(time.Millisecond), line)

	mark = len(s.Edge.Output())
	for range 20 {
		get(t, s, url)
	}
	if got := okStreams(t, s, mark, 20); got[secondConn] != 20 || len(got) != 1 {
		t.Fatalf("ok streams by connector connection = %v, want all 20 on the live connector's %s (not the stopped one's %s)", got, secondConn, firstConn)
	}
	// The edge had the choice: the stopped connector's connection was
	// still open (its idle timeout had not closed it).
	if err := connIs(ctx, s, firstID, firstConn, true); err != nil {
		t.Fatalf("after the 20 requests: %v", err)
	}

	mark = len(s.Edge.Output())
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	var heardAt time.Time
	testenv.Eventually(t, "the edge to hear the resumed connector's connection again (log and /healthz)", func() (err error) {
		if heardAt, line, err = edgeLogLine(s.Edge.Output()[mark:], "connector connection heard again", firstConn); err != nil {
			return err
		}
		return connIs(ctx, s, firstID, firstConn, false)
	})
	t.Logf("the edge heard the resumed connection again %s after SIGCONT: %s", heardAt.Sub(resumed).Round(time.Millisecond), line)

	if err := second.Stop(15 * time.Second); err != nil {
		t.Fatalf("second connector on SIGTERM: %v", err)
	}
	testenv.Eventually(t, "the stopped second connector to leave the edge", func() error {
		conns, err := tunnelConns(ctx, s)
		if err != nil {
			return err
		}
		if cs := conns[secondID]; len(cs) != 0 {
			return fmt.Errorf("connector %s still holds %+v", secondID, cs)
		}
		return nil
	})
	mark = len(s.Edge.Output())
	for range 20 {
		get(t, s, url)
	}
	if got := okStreams(t, s, mark, 20); got[firstConn] != 20 || len(got) != 1 {
		t.Fatalf("ok streams by connector connection = %v, want all 20 on the resumed connector's %s", got, firstConn)
	}
}

// connectorID reads a connector's id from its /ready.
func connectorID(tb testing.TB, admin string) string {
	tb.Helper()
	resp, err := http.Get(admin + "/ready")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		ConnectorID string `json:"connector_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.ConnectorID == "" {
		tb.Fatalf("connector %s /ready: id %q, %v", admin, st.ConnectorID, err)
	}
	return st.ConnectorID
}

// tunnelConns returns the demo tunnel's connector connections at the edge,
// by connector id, from its /healthz.
func tunnelConns(ctx context.Context, s *stack.Stack) (map[string][]edge.ConnectorConnection, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.EdgeAdmin+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var h edge.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return nil, fmt.Errorf("edge /healthz: %w", err)
	}
	out := map[string][]edge.ConnectorConnection{}
	for _, c := range h.Tunnels[stack.DefaultTunnel].Connectors {
		out[c.ConnectorID] = c.Connections
	}
	return out, nil
}

// connIs reports whether connector id's connection conn is at the edge and
// quiet (or heard) as wanted.
func connIs(ctx context.Context, s *stack.Stack, id, conn string, quiet bool) error {
	conns, err := tunnelConns(ctx, s)
	if err != nil {
		return err
	}
	for _, c := range conns[id] {
		if c.ConnID == conn {
			if c.Quiet != quiet {
				return fmt.Errorf("connection %s of connector %s: quiet %v, want %v (heard at %v)", conn, id, c.Quiet, quiet, c.HeardAt)
			}
			return nil
		}
	}
	return fmt.Errorf("connection %s of connector %s is not at the edge (it holds %+v)", conn, id, conns[id])
}

var logTime = regexp.MustCompile(`^time=(\S+)`)

// edgeLogLine finds the edge's log line with msg about connection conn and
// returns its time.
func edgeLogLine(out, msg, conn string) (time.Time, string, error) {
	for line := range strings.Lines(out) {
		if !strings.Contains(line, `msg="`+msg) || !strings.Contains(line, " conn="+conn+" ") {
			continue
		}
		line = strings.TrimSpace(line)
		m := logTime.FindStringSubmatch(line)
		if m == nil {
			return time.Time{}, line, fmt.Errorf("edge log line without a time: %s", line)
		}
		at, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			return time.Time{}, line, fmt.Errorf("edge log line %q: %w", line, err)
		}
		return at, line, nil
	}
	return time.Time{}, "", fmt.Errorf("the edge has not logged %q for connection %s", msg, conn)
}

// okStreams waits until the edge has written n audit lines since offset
// mark of its output (a stream's line follows its end) and counts those
// with outcome ok by connector connection.
func okStreams(tb testing.TB, s *stack.Stack, mark, n int) map[string]int {
	tb.Helper()
	var got map[string]int
	testenv.Eventually(tb, fmt.Sprintf("%d audit lines from the edge", n), func() error {
		got = map[string]int{}
		lines := 0
		sc := bufio.NewScanner(strings.NewReader(s.Edge.Output()[mark:]))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if !strings.Contains(sc.Text(), `"msg":"stream"`) {
				continue
			}
			var rec edge.AuditRecord
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				return fmt.Errorf("audit line %q: %w", sc.Text(), err)
			}
			lines++
			if rec.Outcome == "ok" {
				got[rec.ConnectorConn]++
			}
		}
		if lines < n {
			return fmt.Errorf("%d audit lines, want %d", lines, n)
		}
		return nil
	})
	return got
}
