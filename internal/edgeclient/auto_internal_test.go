package edgeclient

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// TestPicker follows one network through the automatic choice with an
// injected clock: QUIC unknown, fallen back to TCP, the retry due after
// the interval (once at a time), a failed retry waiting the interval
// again, QUIC answering again.
func TestPicker(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	p := newPicker(1500*time.Millisecond, 5*time.Minute, func() time.Time { return now })
	const key = "192.0.2.10"
	steps := []struct {
		name     string
		do       func()
		advance  time.Duration
		onTCP    bool
		probeDue bool
		reason   string
	}{
		{"a new network tries QUIC", func() {}, 0, false, false, "UDP to the edge got no answer within 1.5 s when this connection was dialled"},
		{"no answer over UDP: TCP, remembered", func() { p.fellBack(key) }, 0, true, false,
			"UDP to the edge got no answer within 1.5 s; trying QUIC again in 5m"},
		{"before the interval: no retry", func() {}, 4 * time.Minute, true, false,
			"UDP to the edge got no answer within 1.5 s; trying QUIC again in 1m"},
		{"after it: one retry", func() {}, time.Minute, true, true, "UDP to the edge got no answer within 1.5 s; trying QUIC again now"},
		{"the retry failed: wait again", func() { p.probed(key, false) }, 0, true, false,
			"UDP to the edge got no answer within 1.5 s; trying QUIC again in 5m"},
		{"the next retry answered: QUIC", func() {
			now = now.Add(5 * time.Minute)
			if !p.probe(key) {
				t.Fatal("retry not due")
			}
			p.probed(key, true)
		}, 0, false, false, "UDP to the edge got no answer within 1.5 s when this connection was dialled"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			now = now.Add(st.advance)
			st.do()
			if got := p.onTCP(key); got != st.onTCP {
				t.Fatalf("onTCP = %v, want %v", got, st.onTCP)
			}
			if got := p.reason(key); got != st.reason {
				t.Fatalf("reason %q, want %q", got, st.reason)
			}
			if got := p.due(key); got != st.probeDue {
				t.Fatalf("due = %v, want %v (a connector's next dial tries QUIC first when due)", got, st.probeDue)
			}
			if got := p.probe(key); got != st.probeDue {
				t.Fatalf("probe = %v, want %v", got, st.probeDue)
			}
			if st.probeDue && p.probe(key) {
				t.Fatal("a second retry began while one runs")
			}
			if p.onTCP("198.51.100.7") {
				t.Fatal("another network inherited the choice")
			}
		})
	}
}

// TestPickerBounded: a picker remembers at most maxNetworks networks.
func TestPickerBounded(t *testing.T) {
	p := newPicker(0, 0, nil)
	for i := range 3 * maxNetworks {
		p.fellBack(string(rune('a' + i)))
	}
	if n := len(p.nets); n > maxNetworks {
		t.Fatalf("%d networks remembered, at most %d", n, maxNetworks)
	}
}

// TestNoAnswer: only a QUIC dial that heard nothing falls back to TCP; a
// refusal or a caller that gave up does not.
func TestNoAnswer(t *testing.T) {
	expired, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-expired.Done()
	live := context.Background()
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()
	for _, tc := range []struct {
		name         string
		err          error
		dial, caller context.Context
		want         bool
	}{
		{"dial deadline", context.DeadlineExceeded, expired, live, true},
		{"handshake timeout", &quic.HandshakeTimeoutError{}, live, live, true},
		{"idle timeout", &quic.IdleTimeoutError{}, live, live, true},
		{"refused by a limit", &quic.TransportError{ErrorCode: quic.ConnectionRefused, Remote: true}, live, live, false},
		{"tls failure", errors.New("tls: bad certificate"), live, live, false},
		{"the caller gave up", context.Canceled, expired, gone, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := noAnswer(tc.err, tc.dial, tc.caller); got != tc.want {
				t.Fatalf("noAnswer = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRetryOwnTimer: the QUIC retry of a network on TCP runs on its own
// timer (an injected clock here), with nobody opening streams or asking
// for the status: a try each interval while QUIC gets no answer, none
// once it answered, and none after the connection's context ended.
func TestRetryOwnTimer(t *testing.T) {
	const key, retry = "192.0.2.10", 5 * time.Minute
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		answers []bool // what each try finds: QUIC answered or not
		cancel  int    // the context ends after this many tries (0: never)
		tries   int
	}{
		{"QUIC answers at the third try", []bool{false, false, true}, 0, 3},
		{"the connection ends after two tries", []bool{false, false, false, false}, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := start
			p := newPicker(1500*time.Millisecond, retry, func() time.Time { return now })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p.sleep = func(ctx context.Context, d time.Duration) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				now = now.Add(d)
				return nil
			}
			p.fellBack(key)
			var at []time.Duration
			p.retryEvery(ctx, key, func() bool {
				at = append(at, now.Sub(start))
				i := len(at) - 1
				if i >= len(tc.answers) {
					t.Fatalf("try %d: more tries than the case has answers", i+1)
				}
				if len(at) == tc.cancel {
					cancel()
				}
				return tc.answers[i]
			})
			if len(at) != tc.tries {
				t.Fatalf("%d tries at %v, want %d", len(at), at, tc.tries)
			}
			for i, d := range at {
				if want := time.Duration(i+1) * retry; d != want {
					t.Fatalf("try %d at %v, want %v (one each interval)", i+1, d, want)
				}
			}
		})
	}
}
