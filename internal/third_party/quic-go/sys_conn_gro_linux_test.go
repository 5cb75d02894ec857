package quic

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/quic-go/quic-go/internal/protocol"
)

// TestGROSplitsCoalescedDatagrams (Airlock patch): GSO sends reach a
// reader with UDP_GRO as coalesced messages, and ReadPacket returns each
// datagram whole, in order and in a buffer of its own: a batch of three, a
// batch whose datagrams exceed a packet buffer (each cut to it, as a read
// without GRO cuts it), a plain datagram and an empty one. Every packet is
// kept until the end, so one that aliased a later read would show.
func TestGROSplitsCoalescedDatagrams(t *testing.T) {
	if off, err := strconv.ParseBool(os.Getenv("QUIC_GO_DISABLE_GRO")); err == nil && off {
		t.Skip("QUIC_GO_DISABLE_GRO is set")
	}
	rc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	conn, err := newConn(rc, true)
	if err != nil {
		t.Fatal(err)
	}
	if !conn.gro || !conn.cap.GSO {
		t.Fatalf("GRO %v, GSO %v: a Linux kernel of 5.0 or later has both", conn.gro, conn.cap.GSO)
	}
	sc, err := net.DialUDP("udp", nil, rc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	fill := func(n, seg int, base byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = base + byte(i/seg)
		}
		return b
	}
	const seg, big = 1200, protocol.MaxPacketBufferSize + 100
	small := fill(2*seg+500, seg, 1)
	large := fill(2*big, big, 10)
	plain := bytes.Repeat([]byte{0xaa}, 300)
	for _, b := range []struct {
		data []byte
		seg  uint16
	}{{small, seg}, {large, big}} {
		if _, _, err := sc.WriteMsgUDP(b.data, appendUDPSegmentSizeMsg(nil, b.seg), nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range [][]byte{plain, {}} {
		if _, err := sc.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	const cut = protocol.MaxPacketBufferSize
	want := [][]byte{small[:seg], small[seg : 2*seg], small[2*seg:], large[:cut], large[big : big+cut], plain, {}}
	got := make([]receivedPacket, 0, len(want))
	defer func() {
		for _, p := range got {
			p.buffer.Release()
		}
	}()
	for i := range want {
		p, err := conn.ReadPacket()
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		got = append(got, p)
		if i == 0 && len(conn.rest) != len(small)-seg {
			t.Fatalf("after the first datagram %d bytes of its message are left, want %d: the batch was not coalesced", len(conn.rest), len(small)-seg)
		}
		if p.remoteAddr.String() != sc.LocalAddr().String() {
			t.Fatalf("datagram %d from %v, want %v", i, p.remoteAddr, sc.LocalAddr())
		}
	}
	for i, w := range want {
		if p := got[i]; !bytes.Equal(p.data, w) {
			t.Errorf("datagram %d: %d bytes starting %x, want %d starting %x", i, len(p.data), p.data[:min(4, len(p.data))], len(w), w[:min(4, len(w))])
		}
	}
}
