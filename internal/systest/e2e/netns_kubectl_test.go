package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestNetnsKubectlUDPDropped: the real daemon, with the default
// `transport: auto`, runs in a network namespace of its own; the edge, the
// connector and the real kube-apiserver run on the test machine's
// loopback, reached through a relay (netns.Forward, UDP and TCP) in the
// edge namespace, whose input drops UDP from the daemon (nft). The real
// kubectl, through the daemon's SOCKS listener, gets its namespaces over
// TLS on TCP, and `airlock status` says TCP and why. Once UDP passes
// again, the daemon's QUIC retry (quic_retry 2s, on its own timer: nobody
// asks the daemon meanwhile) moves it back: status says QUIC, and the next kubectl's streams reach the edge over QUIC (its
// audit lines' client_transport).
func TestNetnsKubectlUDPDropped(t *testing.T) {
	edgeNS, clientNS := twoLinks(t)
	s := startStack(t, stack.Options{KubeAPI: kapitest.Options{}, NoDaemon: true, DaemonEdgeYAML: "    quic_retry: 2s\n"})
	_, port, err := net.SplitHostPort(s.EdgeAddr)
	if err != nil {
		t.Fatal(err)
	}
	relay := net.JoinHostPort("10.213.0.1", port)
	edgeNS.Forward(t, relay, s.EdgeAddr)
	edgeNS.Nft(t, fmt.Sprintf(`table inet noudp {
	chain in {
		type filter hook input priority 0;
		ip saddr 10.213.1.1 udp dport %s drop
	}
}
`, port))
	s.DaemonEdgeAddr = relay
	s.DaemonPrefix = []string{"ip", "netns", "exec", clientNS.Name}
	ctx, cancel := context.WithTimeout(testenv.Context(t), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := s.StartDaemon(ctx); err != nil {
		t.Fatalf("start the daemon in its namespace: %v", err)
	}
	t.Logf("UDP dropped: the daemon's cluster connected %s after it started", time.Since(start).Round(time.Millisecond))
	bin := testenvKubectl(t)
	inNS := func(t *testing.T) string {
		t.Helper()
		cmd := clientNS.Command(ctx, bin, "--kubeconfig", s.Kubeconfig, "get", "namespaces", "-o", "name")
		cmd.Env = append(os.Environ(), "HOME="+s.Dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		begin := time.Now()
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), "namespace/default") {
			t.Fatalf("kubectl get namespaces in the daemon's namespace: %v: %q %s", err, out, stderr.Bytes())
		}
		return time.Since(begin).Round(time.Millisecond).String()
	}
	status := func(t *testing.T) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock"), "status")
		cmd.Env = s.Env()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("airlock status: %v: %s", err, out)
		}
		return string(out)
	}
	// audit returns the edge's audit lines so far.
	audit := func(t *testing.T) []auditLine {
		t.Helper()
		var out []auditLine
		for _, line := range strings.Split(s.Edge.Output(), "\n") {
			if !strings.Contains(line, `"msg":"stream"`) {
				continue
			}
			var rec auditLine
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("audit line is not JSON: %v: %s", err, line)
			}
			out = append(out, rec)
		}
		return out
	}

	t.Run("UDP dropped: kubectl over TCP", func(t *testing.T) {
		took := inNS(t)
		for _, a := range audit(t) {
			if a.Transport != "tcp" || a.Outcome != "ok" {
				t.Fatalf("audit line %+v, want every stream ok over tcp", a)
			}
		}
		out := status(t)
		line := lineWith(out, "over TCP")
		if !strings.Contains(line, "UDP to the edge got no answer within 1.5 s") {
			t.Fatalf("airlock status does not say TCP and why:\n%s", out)
		}
		t.Logf("kubectl get namespaces took %s; airlock status: %s", took, line)
	})
	t.Run("UDP restored: back on QUIC", func(t *testing.T) {
		edgeNS.Nft(t, "flush ruleset\n")
		restored := time.Now()
		// Nobody asks the daemon meanwhile: its retry runs on its own
		// timer.
		if err := s.Daemon.WaitOutput(ctx, "UDP to the edge answers again; new streams go over QUIC"); err != nil {
			t.Fatal(err)
		}
		t.Logf("the daemon, unasked, moved to QUIC %s after UDP passed again", time.Since(restored).Round(10*time.Millisecond))
		var line string
		if err := testenv.Poll(ctx, 100*time.Millisecond, func() error {
			if line = lineWith(status(t), "over QUIC"); line == "" {
				return fmt.Errorf("airlock status does not say QUIC yet")
			}
			return nil
		}); err != nil {
			t.Fatalf("%v:\n%s", err, status(t))
		}
		t.Logf("airlock status said QUIC %s after UDP passed again: %s", time.Since(restored).Round(10*time.Millisecond), line)
		took := inNS(t)
		// Every stream that began after the edge accepted the daemon's
		// QUIC connection (the edge's ids count up, streams and
		// connections alike) is on it: the first kubectl's streams began
		// before, whenever their audit lines were written.
		// An audit line is written when its stream ends, which may be
		// after kubectl exits.
		var (
			lines    []auditLine
			quicConn uint64
		)
		if err := testenv.Poll(ctx, 20*time.Millisecond, func() error {
			lines = audit(t)
			for _, a := range lines {
				if a.Transport == "quic" {
					quicConn = idSeq(t, a.ClientConn)
					return nil
				}
			}
			return fmt.Errorf("no audit line over quic: %+v", lines)
		}); err != nil {
			t.Fatal(err)
		}
		after := 0
		for _, a := range lines {
			if idSeq(t, a.StreamID) < quicConn {
				continue
			}
			if after++; a.Transport != "quic" || a.Outcome != "ok" {
				t.Fatalf("audit line %+v after the move, want ok over the quic connection", a)
			}
		}
		if after == 0 {
			t.Fatal("no stream of the next kubectl in the audit")
		}
		t.Logf("the next kubectl get namespaces took %s, over QUIC", took)
	})
}

// auditLine is what TestNetnsKubectlUDPDropped reads of an audit line.
type auditLine struct {
	StreamID   string `json:"stream_id"`
	ClientConn string `json:"client_conn"`
	Transport  string `json:"client_transport"`
	Outcome    string
}

// idSeq is the sequence number that ends an edge's id ("EDGE.s12" → 12).
func idSeq(tb testing.TB, id string) uint64 {
	tb.Helper()
	i := strings.LastIndexFunc(id, func(r rune) bool { return r < '0' || r > '9' })
	n, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		tb.Fatalf("edge id %q does not end in a number", id)
	}
	return n
}
