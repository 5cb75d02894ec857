package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// BenchmarkStreamBreakdown is where a new connection's time goes through
// Airlock (issue 14, item 1), measured without touching the programs: the
// client is this process, the origin is a listener in this process (so the
// moment the connector's dial lands is on the same clock), and the edge's
// moment of accepting each stream comes from its audit line (its time less
// its duration_ms; the same machine's wall clock). The edge's check and
// setup (Open read → Result written) and the connector's origin dial come
// from their /metrics histograms as means over the run (sum/count deltas).
// AIRLOCK_BENCH_STREAMS (300) sets the number of sequential new streams.
func BenchmarkStreamBreakdown(b *testing.B) {
	n := envCount(b, "AIRLOCK_BENCH_STREAMS", 300, 10, 100000)
	load := loadAverage()
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	defer cancel()
	origin, err := newStampOrigin()
	if err != nil {
		b.Fatal(err)
	}
	defer origin.Close()
	log := &testenv.Buffer{}
	s, err := stack.Start(ctx, stack.Options{Bin: stack.Programs(b), Origin: origin.Addr(), Log: log})
	if err != nil {
		if s != nil {
			s.Close()
		}
		b.Fatalf("start the stack: %v", err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("stop the stack: %v", err)
		}
	})
	target := strings.TrimPrefix(stack.KubeServer, "https://")

	direct := make([]time.Duration, 0, n)
	var d net.Dialer
	one := func(ctx context.Context) (*streamStamps, error) {
		st, err := timedSOCKSEcho(ctx, s.SOCKSAddr, s.User, s.Pass, target, origin)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", origin.Addr())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		<-origin.accepted
		if err := benchnet.Echo(ctx, c); err != nil {
			return nil, err
		}
		direct = append(direct, time.Since(start))
		return st, nil
	}
	for range 20 { // warm-up
		if _, err := one(ctx); err != nil {
			b.Fatalf("warm-up: %v\nairlock output (tail):\n%s", err, tailOf(log.String()))
		}
	}
	direct = direct[:0]
	warm := len(auditStreams(s.Edge.Output()))
	before, err := scrapeMeans(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	var stamps []*streamStamps
	for i := range n {
		st, err := one(ctx)
		if err != nil {
			b.Fatalf("stream %d: %v\nairlock output (tail):\n%s", i+1, err, tailOf(log.String()))
		}
		stamps = append(stamps, st)
	}
	// Every audit line is written when its stream ends, after this
	// process closed it.
	var audits []time.Time
	err = testenv.Poll(ctx, testenv.Interval, func() error {
		audits = auditStreams(s.Edge.Output())
		if len(audits) < warm+n {
			return fmt.Errorf("%d audit lines of %d streams", len(audits), warm+n)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	after, err := scrapeMeans(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	means := after.since(before)
	matched := matchAudits(stamps, audits)
	printBreakdown(os.Stdout, load, n, matched, stamps, direct, means)

	b.Run("breakdown", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		for _, r := range breakdownRows(stamps) {
			if r.metric != "" && len(r.ds) > 0 {
				b.ReportMetric(ms(benchnet.Percentile(r.ds, 50)), r.metric+"-p50-ms")
			}
		}
		b.ReportMetric(ms(benchnet.Percentile(direct, 50)), "direct-echo-p50-ms")
		b.ReportMetric(means.check*1e3, "edge-check-mean-ms")
		b.ReportMetric(means.setup*1e3, "edge-setup-mean-ms")
		b.ReportMetric(means.dial*1e3, "connector-dial-mean-ms")
	})
}

// stampOrigin is an echo origin in this process that records when each
// connection was accepted.
type stampOrigin struct {
	ln       net.Listener
	accepted chan time.Time
	wg       sync.WaitGroup
}

func newStampOrigin() (*stampOrigin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	o := &stampOrigin{ln: ln, accepted: make(chan time.Time, 16)}
	o.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			at := time.Now()
			select {
			case o.accepted <- at:
			default: // nobody is timing this one
			}
			o.wg.Go(func() {
				defer c.Close()
				// benchnet's echo protocol: a mode byte, then echo.
				var mode [1]byte
				if _, err := io.ReadFull(c, mode[:]); err != nil {
					return
				}
				io.Copy(c, c)
			})
		}
	})
	return o, nil
}

func (o *stampOrigin) Addr() string { return o.ln.Addr().String() }

func (o *stampOrigin) Close() {
	o.ln.Close()
	o.wg.Wait()
}

// streamStamps are one new stream's moments, as seen from this process,
// plus the edge's accept (from its audit line) once matched.
type streamStamps struct {
	start      time.Time // before the TCP connect to the daemon
	connected  time.Time // TCP connect returned: the daemon's listener accepted
	method     time.Time // method selection read
	authOK     time.Time // username/password accepted: SOCKS auth done
	connectReq time.Time // CONNECT written: the daemon opens the edge stream
	edgeAccept time.Time // the edge accepted the stream (audit line)
	origin     time.Time // the connector's dial reached the origin
	reply      time.Time // SOCKS success read: the Result came back
	echoed     time.Time // the first echoed byte
}

// timedSOCKSEcho runs one new connection through the daemon's SOCKS5
// listener, step by step as Go's SOCKS client (kubectl's) does, then the
// echo probe, stamping each step.
func timedSOCKSEcho(ctx context.Context, proxy, user, pass, target string, o *stampOrigin) (*streamStamps, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, err
	}
	for len(o.accepted) > 0 { // none left over from an earlier stream
		<-o.accepted
	}
	st := &streamStamps{start: time.Now()}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	st.connected = time.Now()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	step := func(what string, out []byte, in int) ([]byte, error) {
		if _, err := c.Write(out); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		buf := make([]byte, in)
		if _, err := io.ReadFull(c, buf); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return buf, nil
	}
	sel, err := step("greeting", []byte{5, 1, 2}, 2)
	if err != nil {
		return nil, err
	}
	st.method = time.Now()
	if sel[1] != 2 {
		return nil, fmt.Errorf("method %d, want 2 (username/password)", sel[1])
	}
	auth := append([]byte{1, byte(len(user))}, user...)
	auth = append(append(auth, byte(len(pass))), pass...)
	status, err := step("authenticate", auth, 2)
	if err != nil {
		return nil, err
	}
	st.authOK = time.Now()
	if status[1] != 0 {
		return nil, fmt.Errorf("authentication status %d", status[1])
	}
	req := append([]byte{5, 1, 0, 3, byte(len(host))}, host...)
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	st.connectReq = time.Now()
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	if _, err := benchnet.ReadReply(c); err != nil {
		return nil, err
	}
	st.reply = time.Now()
	select {
	case st.origin = <-o.accepted:
	case <-ctx.Done():
		return nil, errors.New("the origin saw no connection")
	}
	if _, err := c.Write([]byte{benchnet.ModeEcho, 'x'}); err != nil {
		return nil, err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return nil, fmt.Errorf("read the echoed byte: %w", err)
	}
	st.echoed = time.Now()
	return st, nil
}

// auditStreams returns the moment the edge accepted each ok stream, from
// its audit lines: time less duration_ms.
func auditStreams(out string) []time.Time {
	var ts []time.Time
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"msg":"stream"`) {
			continue
		}
		var rec struct {
			Time       time.Time `json:"time"`
			Outcome    string    `json:"outcome"`
			DurationMS float64   `json:"duration_ms"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.Outcome != "ok" {
			continue
		}
		ts = append(ts, rec.Time.Add(-time.Duration(rec.DurationMS*1e6)))
	}
	return ts
}

// matchAudits gives each stream the edge accept that falls between its
// CONNECT and its SOCKS reply, and returns how many found one.
func matchAudits(stamps []*streamStamps, audits []time.Time) int {
	slices.SortFunc(audits, func(a, b time.Time) int { return a.Compare(b) })
	matched := 0
	for _, st := range stamps {
		lo, hi := st.connectReq.Round(0), st.reply.Round(0) // wall clock, as the edge's
		i, _ := slices.BinarySearchFunc(audits, lo, func(a, t time.Time) int { return a.Compare(t) })
		if i < len(audits) && !audits[i].After(hi) {
			st.edgeAccept = audits[i]
			matched++
		}
	}
	return matched
}

// histMeans are the means, in seconds, of the programs' histograms.
type histMeans struct {
	check, setup, dial          float64 // means, from since
	checkN, setupN, dialN       float64 // counts, as scraped
	checkSum, setupSum, dialSum float64 // sums, as scraped
}

func (a histMeans) since(b histMeans) histMeans {
	div := func(s, n float64) float64 {
		if n == 0 {
			return 0
		}
		return s / n
	}
	return histMeans{
		check: div(a.checkSum-b.checkSum, a.checkN-b.checkN),
		setup: div(a.setupSum-b.setupSum, a.setupN-b.setupN),
		dial:  div(a.dialSum-b.dialSum, a.dialN-b.dialN),
	}
}

// scrapeMeans reads the sums and counts of the edge's check and setup
// histograms and the connector's origin dial histogram.
func scrapeMeans(ctx context.Context, s *stack.Stack) (histMeans, error) {
	var m histMeans
	edge, err := scrape(ctx, s.EdgeAdmin+"/metrics")
	if err != nil {
		return m, err
	}
	conn, err := scrape(ctx, s.ConnAdmin+"/metrics")
	if err != nil {
		return m, err
	}
	m.checkSum, m.checkN = edge["airlock_edge_stream_check_seconds_sum"], edge["airlock_edge_stream_check_seconds_count"]
	m.setupSum, m.setupN = edge["airlock_edge_stream_setup_seconds_sum"], edge["airlock_edge_stream_setup_seconds_count"]
	m.dialSum = conn[`airlock_connector_origin_dial_seconds_sum{result="ok"}`]
	m.dialN = conn[`airlock_connector_origin_dial_seconds_count{result="ok"}`]
	return m, nil
}

func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			vals[line[:i]] = v
		}
	}
	return vals, sc.Err()
}

// breakdownRow is one step of a new stream, its duration per stream.
type breakdownRow struct {
	name, metric string
	ds           []time.Duration
}

func breakdownRows(stamps []*streamStamps) []breakdownRow {
	rows := []breakdownRow{
		{name: "TCP connect to the daemon's SOCKS listener", metric: "tcp-connect"},
		{name: "greeting → method selection", metric: "socks-method"},
		{name: "username/password → auth OK (SOCKS auth done)", metric: "socks-auth"},
		{name: "CONNECT sent → edge accepted the stream", metric: "to-edge"},
		{name: "edge accepted → connector's dial at the origin", metric: "edge-to-origin"},
		{name: "origin accepted → SOCKS success reply", metric: "result-back"},
		{name: "SOCKS reply → first echoed byte (data round trip)", metric: "first-byte"},
		{name: "CONNECT sent → SOCKS reply (whole stream open)", metric: "open"},
		{name: "total: connect start → first echoed byte", metric: "total"},
	}
	for _, st := range stamps {
		add := func(i int, from, to time.Time) { rows[i].ds = append(rows[i].ds, to.Sub(from)) }
		add(0, st.start, st.connected)
		add(1, st.connected, st.method)
		add(2, st.method, st.authOK)
		if !st.edgeAccept.IsZero() {
			add(3, st.connectReq.Round(0), st.edgeAccept)
			add(4, st.edgeAccept, st.origin.Round(0))
		}
		add(5, st.origin, st.reply)
		add(6, st.reply, st.echoed)
		add(7, st.connectReq, st.reply)
		add(8, st.start, st.echoed)
	}
	return rows
}

func printBreakdown(w io.Writer, load string, n, matched int, stamps []*streamStamps, direct []time.Duration, m histMeans) {
	fmt.Fprintf(w, "\nmake bench, one new stream's time through Airlock — loopback only; %d sequential new streams, after 20 warm-up\n", n)
	fmt.Fprintf(w, "load average (1, 5, 15 min) at the start and the end: %s → %s; a shared machine: figures are noisy\n", load, loadAverage())
	fmt.Fprintln(w, "client and origin are this process (one clock); the edge's accept is its audit line's time less duration_ms")
	fmt.Fprintf(w, "(wall clock, %d of %d streams matched); means are the programs' histograms over the same streams\n\n", matched, n)
	const row = "%-52s %8s %8s\n"
	fmt.Fprintf(w, row, "step", "p50 ms", "p90 ms")
	for _, r := range breakdownRows(stamps) {
		if len(r.ds) == 0 {
			fmt.Fprintf(w, row, r.name, "—", "—")
			continue
		}
		fmt.Fprintf(w, row, r.name, pct(r.ds, 50), pct(r.ds, 90))
	}
	fmt.Fprintf(w, row, "direct TCP: connect start → first echoed byte", pct(direct, 50), pct(direct, 90))
	fmt.Fprintf(w, "\nmeans from /metrics: edge check (stream accepted → token and policy checked) %.3f ms;\n", m.check*1e3)
	fmt.Fprintf(w, "  edge setup (stream accepted → Result written, connector round trip included) %.3f ms;\n", m.setup*1e3)
	fmt.Fprintf(w, "  connector origin dial %.3f ms\n\n", m.dial*1e3)
}
