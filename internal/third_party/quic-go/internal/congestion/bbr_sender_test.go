package congestion

import (
	"container/heap"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quic-go/quic-go/internal/monotime"
	"github.com/quic-go/quic-go/internal/protocol"
	"github.com/quic-go/quic-go/internal/utils"
)

// Airlock patch: the BBR-style sender against a simulated path, in virtual
// time: a bottleneck of rate bytes/s with a queue, a one-way delay each
// way, and random loss of data packets. Each packet is acknowledged on its
// own, one delay after it left the bottleneck; a lost packet is declared
// lost when it would have been acknowledged.

type simEvent struct {
	at   monotime.Time
	pn   protocol.PacketNumber
	size protocol.ByteCount
	lost bool
}

type simQueue []simEvent

func (q simQueue) Len() int            { return len(q) }
func (q simQueue) Less(i, j int) bool  { return q[i].at.Before(q[j].at) }
func (q simQueue) Swap(i, j int)       { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)         { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any           { old := *q; e := old[len(old)-1]; *q = old[:len(old)-1]; return e }
func (q simQueue) next() monotime.Time { return q[0].at }

type simResult struct {
	delivered protocol.ByteCount
	maxQueue  time.Duration // the longest a packet waited at the bottleneck
}

func simulate(t *testing.T, rate float64, oneWay time.Duration, loss float64, run time.Duration) simResult {
	t.Helper()
	return simulateWith(t, func(rtt *utils.RTTStats, stats *utils.ConnectionStats) SendAlgorithm {
		return NewBBRSender(DefaultClock{}, rtt, stats, 1200)
	}, rate, oneWay, loss, run)
}

func simulateWith(t *testing.T, mk func(*utils.RTTStats, *utils.ConnectionStats) SendAlgorithm, rate float64, oneWay time.Duration, loss float64, run time.Duration) simResult {
	t.Helper()
	const size = protocol.ByteCount(1200)
	rtt := &utils.RTTStats{}
	stats := &utils.ConnectionStats{}
	b := mk(rtt, stats)
	rng := rand.New(rand.NewPCG(1, 2))
	start := monotime.Now()
	now, end := start, start.Add(run)
	var (
		q         simQueue
		inFlight  protocol.ByteCount
		pn        protocol.PacketNumber
		linkFree  = start
		sentAt    = map[protocol.PacketNumber]monotime.Time{}
		res       simResult
		perPacket = time.Duration(float64(size) / rate * float64(time.Second))
	)
	for now.Before(end) {
		if b.CanSend(inFlight) && b.HasPacingBudget(now) {
			b.OnPacketSent(now, inFlight, pn, size, true)
			inFlight += size
			depart := linkFree
			if depart.Before(now) {
				depart = now
			}
			res.maxQueue = max(res.maxQueue, depart.Sub(now))
			linkFree = depart.Add(perPacket)
			sentAt[pn] = now
			heap.Push(&q, simEvent{at: linkFree.Add(2 * oneWay), pn: pn, size: size, lost: rng.Float64() < loss})
			pn++
			continue
		}
		next := end
		if q.Len() > 0 && q.next().Before(next) {
			next = q.next()
		}
		if b.CanSend(inFlight) {
			if ts := b.TimeUntilSend(inFlight); !ts.IsZero() && ts.Before(next) {
				next = ts
			}
		}
		if next.After(now) {
			now = next
		}
		for q.Len() > 0 && !q.next().After(now) {
			e := heap.Pop(&q).(simEvent)
			prior := inFlight
			inFlight -= e.size
			if e.lost {
				b.OnCongestionEvent(e.pn, e.size, prior)
				continue
			}
			rtt.UpdateRTT(now.Sub(sentAt[e.pn]), 0)
			b.OnPacketAcked(e.pn, e.size, prior, now)
			res.delivered += e.size
			delete(sentAt, e.pn)
		}
	}
	return res
}

// TestBBRSenderUnderRandomLoss: on a 10 MB/s path with a 50 ms round trip,
// the sender delivers most of the bottleneck's rate with no loss and with
// 5 % and 20 % random loss (Reno, at 5 %, settles at a few packets), and
// the queue it builds at the bottleneck stays within about one round trip
// (its window is twice the bandwidth-delay product).
func TestBBRSenderUnderRandomLoss(t *testing.T) {
	const (
		rate   = 10e6
		oneWay = 25 * time.Millisecond
		run    = 20 * time.Second
	)
	for _, tc := range []struct {
		name     string
		loss     float64
		minShare float64 // of the bottleneck's rate, over the run
	}{
		{"no loss", 0, 0.85},
		{"5 % loss", 0.05, 0.75},
		{"20 % loss", 0.20, 0.5}, // lost packets used the bottleneck too: at most 0.8
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := simulate(t, rate, oneWay, tc.loss, run)
			share := float64(res.delivered) / (rate * run.Seconds())
			t.Logf("delivered %.2f MB/s of %.0f (%.2f), longest queue %v", float64(res.delivered)/1e6/run.Seconds(), rate/1e6, share, res.maxQueue)
			if share < tc.minShare {
				t.Errorf("delivered %.2f of the bottleneck's rate, want at least %.2f", share, tc.minShare)
			}
			if res.maxQueue > 3*oneWay*2 {
				t.Errorf("a packet waited %v at the bottleneck, more than 3 round trips", res.maxQueue)
			}
		})
	}
}

// TestBBRSenderDeliversMoreThanReno says why the sender is here: the same
// path and 5 % loss with the release's Reno sender.
func TestBBRSenderDeliversMoreThanReno(t *testing.T) {
	const rate, oneWay, run = 10e6, 25 * time.Millisecond, 20 * time.Second
	bbr := simulate(t, rate, oneWay, 0.05, run)
	reno := simulateWith(t, func(rtt *utils.RTTStats, stats *utils.ConnectionStats) SendAlgorithm {
		return NewCubicSender(DefaultClock{}, rtt, stats, 1200, true, nil)
	}, rate, oneWay, 0.05, run)
	t.Logf("5 %% loss: BBR-style %.2f MB/s, Reno %.2f MB/s", float64(bbr.delivered)/1e6/run.Seconds(), float64(reno.delivered)/1e6/run.Seconds())
	if bbr.delivered < 4*reno.delivered {
		t.Errorf("BBR-style delivered %d bytes, Reno %d: want at least 4×", bbr.delivered, reno.delivered)
	}
}
