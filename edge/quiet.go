package edge

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/internal/transport"
)

// connectorQuietAfter is how long a connector connection that pings may go
// unheard before pick prefers its tunnel's other connections. Connectors
// ping on their control stream every second (edgeclient's
// DefaultConnectorPingInterval) and send QUIC keep-alives as often, so a
// live one is heard about once a second; the half second on top is slack
// for a late ping on a loaded machine. Well under the 5 s idle timeout
// that would close a SIGSTOPped, killed or cut-off connector's connection.
// Quiet is a preference, never a refusal: a quiet connection still takes
// streams when its tunnel has no heard one.
const connectorQuietAfter = 1500 * time.Millisecond

// heardEvery is how often a connector connection's watcher samples quic-go's
// packet counter (an atomic load, no syscall) and checks whether the
// connection went quiet or was heard again (so its log line can trail
// pick's decision by up to this much).
const heardEvery = 250 * time.Millisecond

// heard is when a connector connection was last heard: its last Ping, or,
// when a watcher sample sees new packets, the sample before it (the packets
// came after that one: never a later time than the truth, so a packet
// cannot make a connection look heard for longer than it was). A
// connection that never pinged (an older connector) always counts as heard.
type heard struct {
	pinged atomic.Bool
	at     atomic.Int64 // Unix nanoseconds

	// The watcher's own.
	packets uint64    // the packet count at the last sample
	sampled time.Time // when the last sample was taken
	quiet   bool      // what the watcher last logged
}

// hear notes that the peer was heard at now (never moving back in time).
func (h *heard) hear(now time.Time) {
	n := now.UnixNano()
	for {
		old := h.at.Load()
		if old >= n || h.at.CompareAndSwap(old, n) {
			return
		}
	}
}

// ping notes a Ping from the peer at now.
func (h *heard) ping(now time.Time) {
	h.hear(now)
	h.pinged.Store(true)
}

// last returns when a peer that pings was last heard; false when it never
// pinged.
func (h *heard) last() (time.Time, bool) {
	if !h.pinged.Load() {
		return time.Time{}, false
	}
	return time.Unix(0, h.at.Load()), true
}

// quietAt reports whether the peer pings and was not heard within
// connectorQuietAfter before now.
func (h *heard) quietAt(now time.Time) bool {
	return h.pinged.Load() && now.Sub(time.Unix(0, h.at.Load())) > connectorQuietAfter
}

// sample is the watcher's step: packets is quic-go's count of packets
// received on the connection. It returns whether the connection is quiet
// at now and whether that changed since the last sample.
func (h *heard) sample(now time.Time, packets uint64) (quiet, changed bool) {
	if packets != h.packets && !h.sampled.IsZero() {
		h.hear(h.sampled)
	}
	h.packets = packets
	h.sampled = now
	quiet = h.quietAt(now)
	changed, h.quiet = quiet != h.quiet, quiet
	return quiet, changed
}

// watchHeard samples connector p every heardEvery until its connection
// closes, and logs (once each way) when it goes quiet and when it is heard
// again; the tunnel's quiet gauge follows.
func (s *Server) watchHeard(p *peer) {
	p.heard.packets, p.heard.sampled = p.conn.Stats().Received, time.Now()
	t := time.NewTicker(heardEvery)
	defer t.Stop()
	g := s.m.quietConns.WithLabelValues(p.tunnel.name)
	defer func() {
		if p.heard.quiet {
			g.Dec()
		}
	}()
	for {
		select {
		case <-p.conn.Context().Done():
			return
		case now := <-t.C:
			quiet, changed := p.heard.sample(now, p.conn.Stats().Received)
			if !changed {
				continue
			}
			last := time.Unix(0, p.heard.at.Load())
			if quiet {
				g.Inc()
				p.log.Info("connector connection went quiet; new streams prefer the tunnel's other connections",
					"unheard_for", now.Sub(last).Round(time.Millisecond), "active_streams", p.active.Load())
			} else {
				g.Dec()
				p.log.Info("connector connection heard again; it takes new streams", "last_heard", last.UTC())
			}
		}
	}
}

// candidate is what pick weighs about one connector connection.
type candidate struct {
	usable  bool // live, not draining, not tried already
	quiet   bool
	leaving bool  // its connector is leaving: the last resort (handover.go)
	load    int64 // streams routed to it now
}

// candidate describes p at now for pick; the caller adds liveness and skip.
func (p *peer) candidate(now time.Time) candidate {
	return candidate{usable: !p.draining.Load(), quiet: p.heard.quietAt(now), leaving: p.leaving.Load(), load: p.active.Load()}
}

// choose returns the index of the connection pick routes to, or -1 when
// none is usable: the usable heard one with the least load, else the usable
// quiet one with the least load; among heard (or among quiet) ones, one
// whose connector is leaving only when no other is usable. The scan starts
// at start so that ties spread round-robin.
func choose(cs []candidate, start int) int {
	best := -1
	for i := range cs {
		j := (start + i) % len(cs)
		c := cs[j]
		if !c.usable {
			continue
		}
		if best < 0 {
			best = j
			continue
		}
		b := cs[best]
		if (b.quiet && !c.quiet) || (b.quiet == c.quiet && b.leaving && !c.leaving) ||
			(b.quiet == c.quiet && b.leaving == c.leaving && c.load < b.load) {
			best = j
		}
	}
	return best
}

// answerQuietAfter is how long a connector connection waiting to answer a
// Dial may go unheard before answerWatch moves the stream: twice
// connectorQuietAfter, since moving costs a second origin dial where a
// preference costs nothing (a Ping late by half a second must not move
// streams), and still under the 5 s idle timeout.
const answerQuietAfter = 2 * connectorQuietAfter

// answerWatch ends the wait for a connector's Result when its connection
// goes unheard for answerQuietAfter while the tunnel has another
// connection that was heard: the edge sends only the Dial before the
// Result, so nothing of the client's went there and another connection may
// take the stream. A quiet
// connection can be picked while it looked heard: a connector stopped just
// after a ping, or an edge resumed from a pause reading the Pings its
// socket buffered meanwhile. A lone connector, however slow, keeps the
// wait (resultTimeout bounds it). Timers, not a goroutine: nothing runs
// while the connection is heard but a timer due when it would turn quiet.
type answerWatch struct {
	mu    sync.Mutex
	timer *time.Timer
	fired bool // the wait was cut: the read's deadline error means quiet
	done  bool
}

// watchAnswer watches cp while up waits for its Result; alternative
// reports whether another of the tunnel's connections was heard at now.
func watchAnswer(cp *peer, up transport.Stream, alternative func(now time.Time) bool) *answerWatch {
	w := &answerWatch{}
	if _, pings := cp.heard.last(); !pings {
		return w // an older connector: never called quiet
	}
	var check func()
	arm := func(now time.Time) {
		next := heardEvery // quiet and alone: look again in a moment
		if last, _ := cp.heard.last(); !silent(last, now) {
			next = last.Add(answerQuietAfter).Sub(now) + time.Millisecond
		}
		w.timer = time.AfterFunc(next, check)
	}
	check = func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.done {
			return
		}
		now := time.Now()
		if last, _ := cp.heard.last(); !silent(last, now) || !alternative(now) {
			arm(now)
			return
		}
		w.fired = true
		up.SetReadDeadline(now) //nolint:errcheck // the read returns at once
	}
	w.mu.Lock()
	arm(time.Now())
	w.mu.Unlock()
	return w
}

// silent reports whether a connection last heard at last is past
// answerQuietAfter at now.
func silent(last, now time.Time) bool { return now.Sub(last) > answerQuietAfter }

// stop ends the watch and reports whether it cut the wait.
func (w *answerWatch) stop() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	return w.fired
}
