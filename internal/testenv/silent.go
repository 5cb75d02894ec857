package testenv

import (
	"net"
	"slices"
	"sync"
	"testing"
)

// SilentUDP is a loopback UDP socket that reads every datagram and answers
// none: an edge that is paused, cut off or gone, as a QUIC client sees it.
// It remembers the source address of every datagram.
type SilentUDP struct {
	// Addr is where to send, "127.0.0.1:PORT".
	Addr string

	mu      sync.Mutex
	sources map[string]bool
}

// NewSilentUDP starts one for as long as tb runs; its cleanup closes the
// socket and waits for the reader.
func NewSilentUDP(tb testing.TB) *SilentUDP {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("silent UDP peer: %v", err)
	}
	s := &SilentUDP{Addr: pc.LocalAddr().String(), sources: map[string]bool{}}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed by the cleanup
			}
			s.mu.Lock()
			s.sources[from.String()] = true
			s.mu.Unlock()
		}
	})
	return s
}

// Sources returns the distinct addresses datagrams came from, sorted: one
// per socket that sent (a QUIC dial binds a socket of its own).
func (s *SilentUDP) Sources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.sources))
	for a := range s.sources {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}
