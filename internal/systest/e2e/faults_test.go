package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/socks"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// TestConnectorDown stops the connector (it must exit 0 on SIGTERM), checks
// that a client sees "network unreachable" and that the daemon's log names
// the cause, then starts it again and the path works.
func TestConnectorDown(t *testing.T) {
	s := startStack(t, stack.Options{Origin: httpOrigin(t)})
	get(t, s, "http://kubernetes.default.svc/")
	if err := s.Connector.Stop(15 * time.Second); err != nil {
		t.Fatalf("connector on SIGTERM: %v", err)
	}
	before := len(s.Daemon.Output())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	reply, c, err := socksConnect(ctx, s.SOCKSAddr, s.User, s.Pass, "kubernetes.default.svc:443")
	if err != nil {
		t.Fatal(err)
	}
	if c != nil {
		c.Close()
		t.Fatal("the proxy accepted a connection with no connector")
	}
	if reply != socks.ReplyNetworkUnreachable {
		t.Fatalf("SOCKS reply = %#x, want network unreachable (%#x)", reply, socks.ReplyNetworkUnreachable)
	}
	testenv.Eventually(t, "the daemon's log to name the cause", func() error {
		if logs := s.Daemon.Output()[before:]; !strings.Contains(logs, "no connector") {
			return fmt.Errorf("log lacks %q:\n%s", "no connector", logs)
		}
		return nil
	})
	if err := s.StartConnector(ctx); err != nil {
		t.Fatal(err)
	}
	get(t, s, "http://kubernetes.default.svc/")
}

// TestEdgeRestart restarts the edge on the same address: the connector and
// the daemon reconnect by themselves and the next request succeeds within
// 2 s of the edge being back.
func TestEdgeRestart(t *testing.T) {
	s := startStack(t, stack.Options{Origin: httpOrigin(t)})
	get(t, s, "http://kubernetes.default.svc/")
	for round := 1; round <= 2; round++ {
		if err := s.Edge.Stop(15 * time.Second); err != nil {
			t.Fatalf("edge on SIGTERM: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.StartEdge(ctx); err != nil {
			cancel()
			t.Fatal(err)
		}
		cancel()
		back := time.Now()
		testenv.Eventually(t, fmt.Sprintf("round %d: a request after the edge restarted", round), func() error {
			return tryGet(s, "http://kubernetes.default.svc/")
		})
		took := time.Since(back)
		t.Logf("round %d: path back %v after the edge", round, took.Round(time.Millisecond))
		if took > 2*time.Second {
			t.Errorf("round %d: the path came back %v after the edge, want within 2s", round, took.Round(time.Millisecond))
		}
	}
}

// TestMalformedFrames sends garbage on a data stream straight to the edge:
// the stream is reset with "bad request", the connection and the edge keep
// serving, and the next real request succeeds.
func TestMalformedFrames(t *testing.T) {
	s := startStack(t, stack.Options{Origin: httpOrigin(t)})
	ca, err := os.ReadFile(filepath.Join(s.EdgeDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	qc, err := quic.DialAddr(ctx, s.EdgeAddr, &tls.Config{RootCAs: pool, ServerName: "edge.airlock.test", NextProtos: []string{wire.ALPN}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer qc.CloseWithError(0, "")
	ctrl, err := qc.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := wire.WriteFrame(ctrl, &wire.Hello{Version: wire.Version, Role: wire.RoleClient}); err != nil {
		t.Fatal(err)
	}
	if w, err := wire.ReadFrameOf[*wire.Welcome](bufio.NewReader(ctrl)); err != nil || w.Code != wire.CodeOK {
		t.Fatalf("welcome: %+v, %v", w, err)
	}
	for _, garbage := range [][]byte{
		{0xff, 0, 0},                                 // unknown frame type
		{byte(wire.FrameOpen), 0xff, 0xff},           // over the size limit
		{byte(wire.FrameOpen), 0, 4, 1, 9, 'a', 'b'}, // field past the end
		{byte(wire.FrameHello), 0, 0},                // a control frame on a data stream
	} {
		st, err := qc.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.SetDeadline(time.Now().Add(10 * time.Second))
		st.Write(garbage)
		st.Close()
		code, err := readCode(st)
		if err != nil {
			t.Fatalf("garbage %x: %v", garbage, err)
		}
		if code != wire.CodeBadRequest {
			t.Fatalf("garbage %x: code %v, want bad request", garbage, code)
		}
	}
	if qc.Context().Err() != nil {
		t.Fatalf("the edge closed the connection: %v", context.Cause(qc.Context()))
	}
	get(t, s, "http://kubernetes.default.svc/")
}

// readCode reads how the edge answered a stream: a Result frame's code or
// a stream reset's code.
func readCode(st *quic.Stream) (wire.Code, error) {
	res, err := wire.ReadFrameOf[*wire.Result](st)
	if err == nil {
		return res.Code, nil
	}
	var se *quic.StreamError
	if errors.As(err, &se) {
		return wire.Code(se.ErrorCode), nil
	}
	return 0, err
}

// TestDaemonListensOnlyOnLoopback lists every socket the daemon process
// holds and checks that each listening one is bound to a loopback address.
func TestDaemonListensOnlyOnLoopback(t *testing.T) {
	s := startStack(t, stack.Options{Origin: httpOrigin(t)})
	inodes, err := socketInodes(s.Daemon.PID())
	if err != nil {
		t.Fatal(err)
	}
	var listening int
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6"} {
		socks, err := procNet(table)
		if err != nil {
			t.Fatal(err)
		}
		for _, so := range socks {
			if !inodes[so.inode] {
				continue
			}
			listen := strings.HasPrefix(table, "udp") || so.state == "0A"
			if !listen {
				continue
			}
			listening++
			if !so.local.IsLoopback() {
				t.Errorf("the daemon has a %s socket on %v, not loopback", table, so.local)
			}
		}
	}
	if listening == 0 {
		t.Fatal("found no listening socket of the daemon: the check saw nothing")
	}
}

func socketInodes(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			out[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	return out, nil
}

type procSocket struct {
	local net.IP
	state string
	inode string
}

// procNet parses /proc/net/{tcp,tcp6,udp,udp6}.
func procNet(table string) ([]procSocket, error) {
	b, err := os.ReadFile("/proc/net/" + table)
	if err != nil {
		return nil, err
	}
	var out []procSocket
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		hexIP, _, _ := strings.Cut(f[1], ":")
		ip, err := parseProcIP(hexIP)
		if err != nil {
			return nil, fmt.Errorf("/proc/net/%s: %w", table, err)
		}
		out = append(out, procSocket{local: ip, state: f[3], inode: f[9]})
	}
	return out, nil
}

// parseProcIP decodes /proc/net's hex address: 32-bit words in host (little
// endian) order.
func parseProcIP(h string) (net.IP, error) {
	if len(h) != 8 && len(h) != 32 {
		return nil, fmt.Errorf("address %q", h)
	}
	ip := make(net.IP, len(h)/2)
	for w := 0; w < len(h)/8; w++ {
		for i := 0; i < 4; i++ {
			v, err := strconv.ParseUint(h[w*8+i*2:w*8+i*2+2], 16, 8)
			if err != nil {
				return nil, err
			}
			ip[w*4+3-i] = byte(v)
		}
	}
	return ip, nil
}
