package yamux

import (
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnectionWindowGrowth (Airlock patch): streams that are read grow
// their windows only within the session's ConnectionWindowGrowth, so what
// a peer writing into every stream can make this side hold is the initial
// windows plus the budget; a stream that is never read takes none of it;
// closed streams give their part back.
func TestConnectionWindowGrowth(t *testing.T) {
	const (
		streams = 4
		budget  = 3 << 20
	)
	conf := testConfNoKeepAlive()
	conf.ConnectionWriteTimeout = time.Minute
	sconf := conf.Clone()
	sconf.MaxStreamWindowSize = 4 << 20
	sconf.ConnectionWindowGrowth = budget
	c1, c2 := testConnTCP(t)
	client, server := testClientServerConfig(t, c1, c2, conf, sconf)

	var out, in []*Stream
	for i := 0; i < streams; i++ {
		s, err := client.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
		go func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := s.Write(buf); err != nil {
					return
				}
			}
		}()
		a, err := server.AcceptStream()
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, a)
	}
	idle, err := client.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idle.Write([]byte("never read")); err != nil {
		t.Fatal(err)
	}
	idleIn, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	// Reading makes each stream ask for more, up to its 4 MiB window.
	for _, s := range in {
		if _, err := io.ReadFull(s, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every writer to fill its window", func() bool {
		for _, s := range out {
			if atomic.LoadUint32(&s.sendWindow) != 0 {
				return false
			}
		}
		return true
	})
	var held uint64
	for _, s := range in {
		s.recvLock.Lock()
		held += uint64(s.recvWindow)
		if s.recvBuf != nil {
			held += uint64(s.recvBuf.Len())
		}
		s.recvLock.Unlock()
	}
	idleIn.recvLock.Lock()
	if idleIn.grown != 0 {
		t.Errorf("a stream never read grew its window by %d", idleIn.grown)
	}
	idleIn.recvLock.Unlock()
	if grown := sessionGrowth(server); grown > budget {
		t.Errorf("the streams grew by %d in all, over the budget of %d", grown, budget)
	}
	if floor := uint64(streams) * uint64(initialStreamWindow); held > floor+budget || held <= floor {
		t.Errorf("the streams may hold %d bytes, want more than the initial windows' %d and at most %d", held, floor, floor+budget)
	}
	for i := 0; i < streams; i++ {
		out[i].Close()
		in[i].Close()
	}
	idle.Close()
	idleIn.Close()
	waitFor(t, "closed streams to give their growth back", func() bool { return sessionGrowth(server) == 0 })
}

func sessionGrowth(s *Session) uint64 {
	s.growthLock.Lock()
	defer s.growthLock.Unlock()
	return s.growth
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWindowGrowsAtFirstUpdate (Airlock patch): a stream's first earned
// window update takes it to its largest window, not a doubling; a stream
// that grows while the budget is short takes half of what is left.
func TestWindowGrowsAtFirstUpdate(t *testing.T) {
	const (
		max    = 4 << 20
		budget = 8 << 20
	)
	conf := testConfNoKeepAlive()
	conf.ConnectionWriteTimeout = time.Minute
	sconf := conf.Clone()
	sconf.MaxStreamWindowSize = max
	sconf.ConnectionWindowGrowth = budget
	c1, c2 := testConnTCP(t)
	client, server := testClientServerConfig(t, c1, c2, conf, sconf)

	tests := []struct {
		name  string
		grown uint64
	}{
		{"first stream: its largest window", uint64(max - initialStreamWindow)},
		{"second stream: half of what is left", uint64(budget-(max-initialStreamWindow)+1) / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := client.OpenStream()
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				buf := make([]byte, 64<<10)
				for {
					if _, err := s.Write(buf); err != nil {
						return
					}
				}
			}()
			in, err := server.AcceptStream()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(in, make([]byte, initialStreamWindow/2)); err != nil {
				t.Fatal(err)
			}
			in.recvLock.Lock()
			grown := in.grown
			in.recvLock.Unlock()
			if grown != tt.grown {
				t.Errorf("after one update the stream grew by %d, want %d", grown, tt.grown)
			}
		})
	}
}
