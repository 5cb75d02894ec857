package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
	"github.com/airlockhq/airlock/internal/systest/netns"
)

// BenchmarkLossy is the lossy-link part of `make bench` (issue 15, item
// 3): bulk downloads through Airlock over QUIC, through Airlock over its
// TCP transport, and through `ssh -N -D` (Debian's OpenSSH, default
// cipher), each client behind a netns.Link that adds 25 ms each way (a
// 50 ms round trip) and drops 0, 5 and 20 % of packets each way: the same
// user-space relay for every path, so they are compared on the same link.
// Paths are interleaved round by round (the order rotated) and each
// figure is the median of AIRLOCK_BENCH_LOSSY_ROUNDS (3) rounds; every
// byte is checked.
func BenchmarkLossy(b *testing.B) {
	rounds := envCount(b, "AIRLOCK_BENCH_LOSSY_ROUNDS", 3, 1, 50)
	load := loadAverage()
	conds := []struct {
		name  string
		c     netns.Conditions
		bytes int64
	}{
		{"50 ms", netns.Conditions{Delay: 25 * time.Millisecond}, 32 << 20},
		{"5 % + 50 ms", netns.Conditions{Delay: 25 * time.Millisecond, Loss: 0.05}, 8 << 20},
		{"20 % + 50 ms", netns.Conditions{Delay: 25 * time.Millisecond, Loss: 0.20}, 1 << 20},
	}
	quic := startLossyPath(b, conds[0].c, "    transport: quic\n")
	tcp := startLossyPath(b, conds[0].c, "    transport: tcp\n")
	paths := []*lossyBenchPath{
		{name: "airlock (QUIC)", link: quic.link, dial: quic.dial}, // ssh shares this link
		{name: "airlock (TLS on TCP)", link: tcp.link, dial: tcp.dial},
	}
	var notes []string
	if ssh, err := sshBehind(b, quic); err != nil {
		needPart(b, err)
		notes = append(notes, err.Error())
	} else {
		paths = append(paths, ssh)
	}
	buf := make([]byte, 256<<10)
	results := make([][][]float64, len(conds)) // [cond][path][round]
	for ci, cond := range conds {
		for _, p := range paths {
			p.link.Set(cond.c)
		}
		results[ci] = make([][]float64, len(paths))
		for r := range rounds {
			fmt.Fprintf(os.Stderr, "bench lossy: %s, round %d of %d\n", cond.name, r+1, rounds)
			for i := range paths {
				pi := (i + r) % len(paths)
				mbps, err := paths[pi].bulk(b.Context(), cond.bytes, buf)
				if err != nil {
					b.Fatalf("%s, %s, round %d: %v", paths[pi].name, cond.name, r+1, err)
				}
				results[ci][pi] = append(results[ci][pi], mbps)
			}
		}
	}
	w := os.Stdout
	fmt.Fprintf(w, "\nmake bench, lossy link — each client behind a netns.Link (TUN relay in a router namespace; no sch_netem here), 25 ms each way, loss each way as given\n")
	fmt.Fprintf(w, "the kernel's TCP congestion control (ssh's, and Airlock's TLS on TCP): %s\n", tcpCongestionControl())
	fmt.Fprintf(w, "load average at the start and the end: %s → %s; bulk MB/s (10⁶ bytes), median of %d interleaved rounds, every byte checked\n", load, loadAverage(), rounds)
	fmt.Fprintf(w, "%-14s %8s", "link", "size")
	for _, p := range paths {
		fmt.Fprintf(w, " %22s", p.name)
	}
	fmt.Fprintf(w, "\n")
	ssh := slices.IndexFunc(paths, func(p *lossyBenchPath) bool { return p.ssh })
	for ci, cond := range conds {
		fmt.Fprintf(w, "%-14s %8s", cond.name, sizeString(cond.bytes))
		for pi := range paths {
			m := benchnet.Median(results[ci][pi])
			cell := mbps(m)
			if ssh >= 0 && pi != ssh {
				cell += fmt.Sprintf(" (%.2f× ssh)", m/benchnet.Median(results[ci][ssh]))
			}
			fmt.Fprintf(w, " %22s", cell)
		}
		fmt.Fprintf(w, "\n")
	}
	for _, n := range notes {
		fmt.Fprintf(w, "not measured: %s\n", n)
	}
	for i, p := range paths {
		if slices.IndexFunc(paths, func(q *lossyBenchPath) bool { return q.link == p.link }) < i {
			continue // a link shared with an earlier path
		}
		up, down := p.link.Stats()
		fmt.Fprintf(w, "%s's link: toward the server %d passed, %d lost; toward the client %d passed, %d lost\n", p.name, up.Passed, up.Lost, down.Passed, down.Lost)
	}
	fmt.Fprintln(w)
	for ci, cond := range conds {
		for pi, p := range paths {
			b.Run(fmt.Sprintf("%s/%s", cond.name, p.name), func(b *testing.B) {
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(benchnet.Median(results[ci][pi]), "MB/s")
			})
		}
	}
}

// lossyBenchPath is one client behind a lossy link.
type lossyBenchPath struct {
	name string
	ssh  bool
	link *netns.Link
	dial func(ctx context.Context) (net.Conn, error)
}

// bulk downloads n bytes, checking each, and returns MB/s.
func (p *lossyBenchPath) bulk(ctx context.Context, n int64, buf []byte) (float64, error) {
	return timedBulk(ctx, 5*time.Minute, p.dial, benchnet.BulkIntact, n, buf)
}

// sshBehind runs sshd on this machine's loopback and `ssh -N -D` in the
// Client namespace of lp's link, reaching sshd through a relay at the
// link's ServerIP: the same link, and the same kind of relay, as the
// daemon's.
func sshBehind(tb testing.TB, lp *lossyPath) (*lossyBenchPath, error) {
	tb.Helper()
	t, err := startSSHD(tb, tb.TempDir())
	if err != nil {
		return nil, err
	}
	_, port, err := net.SplitHostPort(t.addr)
	if err != nil {
		return nil, err
	}
	lp.link.Server.Forward(tb, net.JoinHostPort(lp.link.ServerIP, port), t.addr)
	ns := lp.link.Client
	dial := func(ctx context.Context, socks, target string) (c net.Conn, err error) {
		err = ns.Do(func() (err error) { c, err = benchnet.DialSOCKS5(ctx, socks, "", "", target); return err })
		return c, err
	}
	route := &sshRoute{Prefix: []string{"ip", "netns", "exec", ns.Name}, Host: lp.link.ServerIP, Port: port, Dial: dial}
	s, err := startSSHSOCKSVia(tb, t, route, lp.origin, "", benchnet.Echo)
	if err != nil {
		return nil, err
	}
	return &lossyBenchPath{
		name: "ssh -N -D (" + short(s.cipher) + ")", ssh: true, link: lp.link,
		dial: func(ctx context.Context) (net.Conn, error) { return dial(ctx, s.addr, lp.origin) },
	}, nil
}

// tcpCongestionControl is the kernel's default TCP congestion control, or
// why it is unknown.
func tcpCongestionControl() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control")
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(string(b))
}
