package quic

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// TestGROSplitsCoalescedDatagrams (Airlock patch): a GSO send of three
// datagrams reaches a reader with UDP_GRO as one coalesced message, and
// ReadPacket returns the three datagrams, each whole and in order, then a
// plain datagram sent after them.
func TestGROSplitsCoalescedDatagrams(t *testing.T) {
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
		t.Fatalf("GRO %v, GSO %v: this kernel should have both", conn.gro, conn.cap.GSO)
	}
	sc, err := net.DialUDP("udp", nil, rc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	const seg = 1200
	batch := make([]byte, 2*seg+500)
	for i := range batch {
		batch[i] = byte(i / seg * 7)
	}
	if _, _, err := sc.WriteMsgUDP(batch, appendUDPSegmentSizeMsg(nil, seg), nil); err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte{0xaa}, 300)
	if _, err := sc.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := rc.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{batch[:seg], batch[seg : 2*seg], batch[2*seg:], plain}
	for i, w := range want {
		p, err := conn.ReadPacket()
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(p.data, w) {
			t.Fatalf("datagram %d: %d bytes, want %d (%x… against %x…)", i, len(p.data), len(w), p.data[:min(8, len(p.data))], w[:8])
		}
		if i == 0 && len(conn.rest) != len(batch)-seg {
			t.Fatalf("after the first datagram %d bytes of the message are left, want %d: the batch was not coalesced", len(conn.rest), len(batch)-seg)
		}
		if p.remoteAddr.String() != sc.LocalAddr().String() {
			t.Fatalf("datagram %d from %v, want %v", i, p.remoteAddr, sc.LocalAddr())
		}
		p.buffer.Release()
	}
}
