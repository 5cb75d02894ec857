package edge

import (
	"testing"
	"time"
)

// heardState is how a test connector connection stands at the test's now.
type heardState int

const (
	heardNow  heardState = iota // pinged just now
	heardLate                   // pinged a little under connectorQuietAfter ago
	quietConn                   // pinged, then nothing for longer than connectorQuietAfter
	neverPing                   // an older connector: never pinged
	drainConn                   // heard, but draining
	leaveConn                   // heard, its connector leaving (a Serving Drain)
)

// testPeer is a connector connection in state st at now, with load streams.
func testPeer(st heardState, load int64, now time.Time) *peer {
	p := &peer{idle: make(chan struct{})}
	switch st {
	case heardNow, drainConn, leaveConn:
		p.heard.ping(now)
	case heardLate:
		p.heard.ping(now.Add(-connectorQuietAfter + 100*time.Millisecond))
	case quietConn:
		p.heard.ping(now.Add(-connectorQuietAfter - time.Second))
	}
	if st == drainConn {
		p.draining.Store(true)
	}
	if st == leaveConn {
		p.leaving.Store(true)
	}
	p.active.Store(load)
	return p
}

// TestChooseConnector: a stream goes to a connection heard lately (or one
// that never pings) with the least load; to a quiet one only when the
// tunnel has no other; never to a draining one.
func TestChooseConnector(t *testing.T) {
	type conn struct {
		st   heardState
		load int64
	}
	for _, tc := range []struct {
		name  string
		conns []conn
		want  []int // every index pick may return (ties rotate); nil: none
	}{
		{"heard over a quiet one with less load", []conn{{quietConn, 0}, {heardNow, 5}}, []int{1}},
		{"late ping still counts as heard", []conn{{heardLate, 1}, {heardNow, 2}}, []int{0}},
		{"never pinged counts as heard", []conn{{quietConn, 0}, {neverPing, 3}}, []int{1}},
		{"least load among heard ones", []conn{{heardNow, 4}, {neverPing, 2}, {heardNow, 3}, {quietConn, 0}}, []int{1}},
		{"ties rotate among heard ones", []conn{{heardNow, 1}, {quietConn, 0}, {heardNow, 1}}, []int{0, 2}},
		{"draining one is never chosen", []conn{{drainConn, 0}, {quietConn, 7}}, []int{1}},
		{"all quiet falls back to the least loaded", []conn{{quietConn, 3}, {quietConn, 1}, {quietConn, 2}}, []int{1}},
		{"only draining: none", []conn{{drainConn, 0}, {drainConn, 1}}, nil},
		{"a leaving one only when nothing else", []conn{{leaveConn, 0}, {heardNow, 5}}, []int{1}},
		{"a leaving one rather than none", []conn{{leaveConn, 3}, {drainConn, 0}}, []int{0}},
		{"a leaving heard one before a quiet one", []conn{{quietConn, 0}, {leaveConn, 4}}, []int{1}},
		{"least load among leaving ones", []conn{{leaveConn, 2}, {leaveConn, 1}}, []int{1}},
		{"no connection: none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_800_000_000, 0)
			cs := make([]candidate, len(tc.conns))
			for i, c := range tc.conns {
				cs[i] = testPeer(c.st, c.load, now).candidate(now)
			}
			seen := map[int]bool{}
			for start := range max(len(cs), 1) {
				got := choose(cs, start)
				if tc.want == nil {
					if got != -1 {
						t.Fatalf("start %d: chose %d, want none", start, got)
					}
					continue
				}
				ok := false
				for _, w := range tc.want {
					ok = ok || got == w
				}
				if !ok {
					t.Fatalf("start %d: chose %d, want one of %v", start, got, tc.want)
				}
				seen[got] = true
			}
			if len(seen) != len(tc.want) {
				t.Fatalf("over every start chose %v, want each of %v", seen, tc.want)
			}
		})
	}
}

// TestHeardSample: the watcher's samples turn quiet once after
// connectorQuietAfter without a ping or packet, and back once a packet (or
// a ping) is seen again; a connection that never pinged is never quiet.
func TestHeardSample(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	type step struct {
		after       time.Duration // since t0
		packets     uint64
		ping        bool // a Ping arrives at this moment, before the sample
		quiet, flip bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"pinging connector goes quiet and is heard again by a packet", []step{
			{0, 1, true, false, false},
			{time.Second, 2, true, false, false},
			{2 * time.Second, 2, false, false, false},
			{time.Second + connectorQuietAfter + heardEvery, 2, false, true, true},
			{4 * time.Second, 2, false, true, false},
			{5 * time.Second, 3, false, false, true},
		}},
		{"heard again by a ping", []step{
			{0, 1, true, false, false},
			{3 * time.Second, 1, false, true, true},
			{3*time.Second + heardEvery, 1, true, false, true},
		}},
		{"packets keep a late pinger heard", []step{
			{0, 1, true, false, false},
			{time.Second, 5, false, false, false},
			{2 * time.Second, 9, false, false, false},
			{3 * time.Second, 12, false, false, false},
		}},
		{"a packet counts from the sample before the one that saw it", []step{
			{0, 1, true, false, false},
			{time.Second, 1, false, false, false},
			{1600 * time.Millisecond, 2, false, false, false},
			{2600 * time.Millisecond, 2, false, true, true},
		}},
		{"never pinged is never quiet", []step{
			{0, 1, false, false, false},
			{10 * time.Second, 1, false, false, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h heard
			for i, s := range tc.steps {
				now := t0.Add(s.after)
				if s.ping {
					h.ping(now)
				}
				quiet, flip := h.sample(now, s.packets)
				if quiet != s.quiet || flip != s.flip {
					t.Fatalf("step %d (+%s): quiet, changed = %v, %v; want %v, %v", i, s.after, quiet, flip, s.quiet, s.flip)
				}
			}
		})
	}
}
