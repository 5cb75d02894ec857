package edgeclient

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// maxPaths bounds the sockets one connection keeps: each migration adds
// one, and an old one cannot be closed before the connection ends (closing
// a quic.Transport's socket closes every connection dialled on it). A
// connection that would need more is closed and dialled again.
const maxPaths = 8

// paths are the sockets a connection has sent from: the first one it was
// dialled on and one per migration, all closed with the connection.
type paths struct {
	raddr   *net.UDPAddr
	dropped atomic.Uint64 // sends the kernel refused, counted as lost (lossyConn)

	mu     sync.Mutex
	all    []*quic.Transport
	cur    *net.UDPAddr // the local address the connection sends from
	closed bool
}

// add binds a socket toward raddr from the local address the kernel picks
// now and returns its transport and address. The first one becomes the
// current path at once; later ones once the connection switched to them.
func (p *paths) add() (*quic.Transport, *net.UDPAddr, error) {
	udp, err := listenToward(p.raddr)
	if err != nil {
		return nil, nil, err
	}
	tr := &quic.Transport{Conn: lossyConn{UDPConn: udp, dropped: &p.dropped}}
	local := udp.LocalAddr().(*net.UDPAddr)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		udp.Close()
		return nil, nil, net.ErrClosed
	}
	p.all = append(p.all, tr)
	if p.cur == nil {
		p.cur = local
	}
	return tr, local, nil
}

func (p *paths) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all)
}

func (p *paths) switched(local *net.UDPAddr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cur = local
}

func (p *paths) current() *net.UDPAddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

func (p *paths) close() {
	p.mu.Lock()
	all := p.all
	p.all, p.closed = nil, true
	p.mu.Unlock()
	for _, tr := range all {
		tr.Close()
		tr.Conn.Close()
	}
}
