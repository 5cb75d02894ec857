package congestion

// Airlock patch: a BBR-style sender (a model of the path's bottleneck
// bandwidth and minimum RTT, after Cardwell et al., "BBR: Congestion-Based
// Congestion Control", and draft-cardwell-iccrg-bbr-congestion-control's
// delivery-rate samples), written for this copy. Reno, quic-go's only
// controller, cuts its window by 30 % on every loss episode, so on a path
// with random loss (Wi-Fi, a hotel network) its window settles at a few
// packets: 0.2 MB/s at 5 % loss and 50 ms, where the kernel's TCP (BBR on
// these machines) carries 9 MB/s over the same link. This sender paces at
// its bandwidth estimate and caps bytes in flight at twice the estimated
// bandwidth-delay product; loss does not shrink it.
//
// What it leaves out of BBR v1: ProbeRTT (the minimum RTT is the
// connection's, from RTTStats) and the long-term policer model.

import (
	"math"
	"time"

	"github.com/quic-go/quic-go/internal/monotime"
	"github.com/quic-go/quic-go/internal/protocol"
	"github.com/quic-go/quic-go/internal/utils"
)

const (
	bbrHighGain       = 2.885 // 2/ln 2: doubles the delivery rate each round in Startup
	bbrCwndGain       = 2.0
	bbrBwWindowRounds = 10   // the bandwidth filter's window, in round trips
	bbrFullBwGrowth   = 1.25 // Startup ends when three rounds grow less than this
	bbrFullBwRounds   = 3
	bbrMinCwndPackets = 4
	bbrIdleRestart    = time.Second // an idle connection starts up again
)

// bbrProbeGains is ProbeBW's cycle of pacing gains, one phase per min RTT.
var bbrProbeGains = [...]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

type bbrMode uint8

const (
	bbrStartup bbrMode = iota
	bbrDrain
	bbrProbeBW
)

// bbrSent is what the sender keeps of a packet in flight for its
// delivery-rate sample.
type bbrSent struct {
	sentTime      monotime.Time
	delivered     protocol.ByteCount
	deliveredTime monotime.Time
	firstSentTime monotime.Time
	appLimited    bool
}

type bbrRoundBw struct {
	round uint64
	bw    Bandwidth
	extra protocol.ByteCount // the most acknowledged beyond bw in an ack epoch
}

type bbrSender struct {
	rttStats  *utils.RTTStats
	connStats *utils.ConnectionStats
	pacer     *pacer
	clock     Clock

	maxDatagramSize protocol.ByteCount
	initialCwnd     protocol.ByteCount
	maxCwnd         protocol.ByteCount

	mode       bbrMode
	cycleIndex int
	cycleStart monotime.Time

	delivered     protocol.ByteCount
	deliveredTime monotime.Time
	firstSentTime monotime.Time
	lastSentTime  monotime.Time
	inFlight      protocol.ByteCount // as the handler last told
	sent          map[protocol.PacketNumber]bbrSent
	largestAcked  protocol.PacketNumber

	round          uint64
	nextRoundStart protocol.ByteCount
	bw             [bbrBwWindowRounds]bbrRoundBw // the best sample of each recent round

	// An ack epoch: acknowledgements that came faster than the bandwidth
	// estimate (a receiver delaying or batching them, a busy host): the
	// window makes room for that much more, or the sender would stall
	// between batches (on loopback the minimum RTT is microseconds).
	ackEpochStart monotime.Time
	ackEpochAcked protocol.ByteCount

	fullBw      Bandwidth
	fullBwCount int
}

var (
	_ SendAlgorithm               = &bbrSender{}
	_ SendAlgorithmWithDebugInfos = &bbrSender{}
)

// NewBBRSender makes a BBR-style sender (Airlock patch).
func NewBBRSender(clock Clock, rttStats *utils.RTTStats, connStats *utils.ConnectionStats, initialMaxDatagramSize protocol.ByteCount) *bbrSender {
	b := &bbrSender{
		rttStats:        rttStats,
		connStats:       connStats,
		pacer:           newPacer(),
		clock:           clock,
		maxDatagramSize: initialMaxDatagramSize,
		initialCwnd:     initialCongestionWindow * initialMaxDatagramSize,
		maxCwnd:         protocol.MaxCongestionWindowPackets * initialMaxDatagramSize,
		sent:            make(map[protocol.PacketNumber]bbrSent),
		largestAcked:    protocol.InvalidPacketNumber,
	}
	b.connStats.CongestionWindow.Store(uint64(b.GetCongestionWindow()))
	return b
}

// maxBw is the best delivery rate of the last bbrBwWindowRounds rounds.
func (b *bbrSender) maxBw() Bandwidth {
	var best Bandwidth
	for _, s := range b.bw {
		if s.round+bbrBwWindowRounds > b.round && s.bw > best {
			best = s.bw
		}
	}
	return best
}

// extraAcked is the most acknowledged beyond the bandwidth estimate in one
// ack epoch over the last bbrBwWindowRounds rounds, at most 100 ms of the
// estimate.
func (b *bbrSender) extraAcked() protocol.ByteCount {
	var best protocol.ByteCount
	for _, s := range b.bw {
		if s.round+bbrBwWindowRounds > b.round && s.extra > best {
			best = s.extra
		}
	}
	return min(best, bytesIn(b.maxBw(), 100*time.Millisecond))
}

// bytesIn is what bw carries in d.
func bytesIn(bw Bandwidth, d time.Duration) protocol.ByteCount {
	return protocol.ByteCount(uint64(bw/BytesPerSecond) * uint64(d) / uint64(time.Second))
}

// slot is this round's filter entry.
func (b *bbrSender) slot() *bbrRoundBw {
	s := &b.bw[b.round%bbrBwWindowRounds]
	if s.round != b.round {
		*s = bbrRoundBw{round: b.round}
	}
	return s
}

// updateAckEpoch measures how far acknowledgements run ahead of the
// bandwidth estimate.
func (b *bbrSender) updateAckEpoch(acked protocol.ByteCount, now monotime.Time) {
	bw := b.maxBw()
	if bw == 0 {
		return
	}
	expected := bytesIn(bw, now.Sub(b.ackEpochStart))
	if b.ackEpochStart.IsZero() || b.ackEpochAcked <= expected {
		b.ackEpochStart, b.ackEpochAcked = now, 0
		expected = 0
	}
	b.ackEpochAcked += acked
	if extra := b.ackEpochAcked - min(expected, b.ackEpochAcked); extra > 0 {
		s := b.slot()
		s.extra = max(s.extra, extra)
	}
}

func (b *bbrSender) minRTT() time.Duration {
	if rtt := b.rttStats.MinRTT(); rtt > 0 {
		return rtt
	}
	return b.rttStats.SmoothedRTT() // the initial RTT before a sample
}

func (b *bbrSender) bdp() protocol.ByteCount { return bytesIn(b.maxBw(), b.minRTT()) }

func (b *bbrSender) pacingGain() float64 {
	switch b.mode {
	case bbrStartup:
		return bbrHighGain
	case bbrDrain:
		return 1 / bbrHighGain
	default:
		return bbrProbeGains[b.cycleIndex]
	}
}

// pacingRate is the gain times the bandwidth estimate; without one, the
// initial window per RTT, times the gain.
func (b *bbrSender) pacingRate() Bandwidth {
	bw := b.maxBw()
	if rtt := b.minRTT(); rtt > 0 {
		bw = max(bw, BandwidthFromDelta(b.initialCwnd, rtt)/2)
	}
	if bw == 0 {
		return Bandwidth(math.MaxUint64)
	}
	return Bandwidth(float64(bw) * b.pacingGain())
}

// GetCongestionWindow caps bytes in flight: the gain times the estimated
// bandwidth-delay product plus what acknowledgements batch up, at least the
// initial window in Startup.
func (b *bbrSender) GetCongestionWindow() protocol.ByteCount {
	gain := bbrCwndGain
	if b.mode != bbrProbeBW {
		gain = bbrHighGain
	}
	cwnd := protocol.ByteCount(float64(b.bdp())*gain) + b.extraAcked() + 3*b.maxDatagramSize
	if b.mode == bbrStartup {
		cwnd = max(cwnd, b.initialCwnd)
	}
	return min(max(cwnd, bbrMinCwndPackets*b.maxDatagramSize), b.maxCwnd)
}

func (b *bbrSender) TimeUntilSend(protocol.ByteCount) monotime.Time {
	return b.pacer.TimeUntilSend(b.pacingRate())
}

func (b *bbrSender) HasPacingBudget(now monotime.Time) bool {
	return b.pacer.Budget(now, b.pacingRate()) >= b.maxDatagramSize
}

func (b *bbrSender) CanSend(bytesInFlight protocol.ByteCount) bool {
	return bytesInFlight < b.GetCongestionWindow()
}

func (b *bbrSender) OnPacketSent(sentTime monotime.Time, bytesInFlight protocol.ByteCount, pn protocol.PacketNumber, bytes protocol.ByteCount, isRetransmittable bool) {
	rate := b.pacingRate()
	// A packet sent with room left in both the window and the pacer's
	// burst is sent because the application had nothing more: its sample
	// says how much the application offered, not what the path carries.
	appLimited := bytesInFlight+bytes < b.GetCongestionWindow() && b.pacer.Budget(sentTime, rate) > 2*b.maxDatagramSize
	b.pacer.SentPacket(sentTime, bytes, rate)
	b.inFlight = bytesInFlight + bytes
	if !isRetransmittable {
		return
	}
	if bytesInFlight == 0 {
		if !b.lastSentTime.IsZero() && sentTime.Sub(b.lastSentTime) > bbrIdleRestart && b.mode == bbrProbeBW {
			b.mode, b.fullBw, b.fullBwCount = bbrStartup, 0, 0
		}
		b.firstSentTime, b.deliveredTime = sentTime, sentTime
	}
	b.lastSentTime = sentTime
	b.sent[pn] = bbrSent{sentTime: sentTime, delivered: b.delivered, deliveredTime: b.deliveredTime, firstSentTime: b.firstSentTime, appLimited: appLimited}
	if len(b.sent) > 4*protocol.MaxCongestionWindowPackets {
		b.prune()
	}
}

// prune forgets packets far below the largest acknowledged: the handler
// dropped them without a callback (a packet number space it discarded).
func (b *bbrSender) prune() {
	for pn := range b.sent {
		if pn < b.largestAcked-protocol.MaxCongestionWindowPackets {
			delete(b.sent, pn)
		}
	}
}

func (b *bbrSender) OnPacketAcked(pn protocol.PacketNumber, ackedBytes, priorInFlight protocol.ByteCount, eventTime monotime.Time) {
	b.inFlight = priorInFlight - min(ackedBytes, priorInFlight)
	p, ok := b.sent[pn]
	if !ok {
		return
	}
	delete(b.sent, pn)
	b.largestAcked = max(b.largestAcked, pn)
	b.delivered += ackedBytes
	b.deliveredTime = eventTime
	b.firstSentTime = p.sentTime

	roundStart := false
	if p.delivered >= b.nextRoundStart {
		b.nextRoundStart = b.delivered
		b.round++
		roundStart = true
	}
	interval := max(p.sentTime.Sub(p.firstSentTime), eventTime.Sub(p.deliveredTime))
	if interval > 0 && interval >= b.minRTT() {
		rate := BandwidthFromDelta(b.delivered-p.delivered, interval)
		if !p.appLimited || rate >= b.maxBw() {
			s := b.slot()
			s.bw = max(s.bw, rate)
		}
	}
	b.updateAckEpoch(ackedBytes, eventTime)
	if roundStart && !p.appLimited {
		b.checkFullBw()
	}
	b.advanceMode(eventTime)
	b.connStats.CongestionWindow.Store(uint64(b.GetCongestionWindow()))
}

// checkFullBw ends Startup once the estimate grew less than 25 % in each of
// three rounds.
func (b *bbrSender) checkFullBw() {
	if b.mode != bbrStartup {
		return
	}
	if bw := b.maxBw(); float64(bw) >= float64(b.fullBw)*bbrFullBwGrowth {
		b.fullBw, b.fullBwCount = bw, 0
		return
	}
	if b.fullBwCount++; b.fullBwCount >= bbrFullBwRounds {
		b.mode = bbrDrain
	}
}

func (b *bbrSender) advanceMode(now monotime.Time) {
	switch b.mode {
	case bbrDrain:
		// Drain ends once the queue Startup built is gone; bytes in flight
		// are what was sent and not yet delivered or lost.
		if b.inFlight <= b.bdp() {
			b.mode, b.cycleIndex, b.cycleStart = bbrProbeBW, 2, now
		}
	case bbrProbeBW:
		if now.Sub(b.cycleStart) >= b.minRTT() {
			b.cycleIndex = (b.cycleIndex + 1) % len(bbrProbeGains)
			b.cycleStart = now
		}
	}
}

func (b *bbrSender) OnCongestionEvent(pn protocol.PacketNumber, lostBytes, priorInFlight protocol.ByteCount) {
	b.inFlight = priorInFlight - min(lostBytes, priorInFlight)
	b.connStats.PacketsLost.Add(1)
	b.connStats.BytesLost.Add(uint64(lostBytes))
	delete(b.sent, pn)
}

func (b *bbrSender) MaybeExitSlowStart()                  {}
func (b *bbrSender) OnSpuriousLoss(protocol.PacketNumber) {}
func (b *bbrSender) OnRetransmissionTimeout(bool)         {}
func (b *bbrSender) InSlowStart() bool                    { return b.mode == bbrStartup }
func (b *bbrSender) InRecovery() bool                     { return false }

func (b *bbrSender) SetMaxDatagramSize(s protocol.ByteCount) {
	if s < b.maxDatagramSize {
		panic("congestion BUG: decreased max datagram size")
	}
	b.maxDatagramSize = s
	b.pacer.SetMaxDatagramSize(s)
}
