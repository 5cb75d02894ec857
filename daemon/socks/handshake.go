package socks

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	socks5 "github.com/things-go/go-socks5"
	"github.com/things-go/go-socks5/statute"
)

// refusalLogEvery bounds the warnings about connections refused over the
// cap: one at the first refusal, then at most one a minute with the count.
const refusalLogEvery = time.Minute

// gate counts one Serve's connections that have not authenticated, in
// two pools of max each: one that every client shares, and one for the
// daemon's own user, used once the shared one is full. So another local
// user who fills the shared pool denies only themselves: the owner's
// kubectl still gets in. The owner is told apart by the uid of the
// client's socket (peerUID), looked up only when the shared pool is full,
// so that the usual connection costs no lookup. Where the system does not
// tell the uid, everyone shares the one pool.
type gate struct {
	max   int
	log   *slog.Logger
	uid   func(net.Conn) (uint32, error) // the client's uid; nil: unknown
	owner uint32                         // the daemon's uid

	mu       sync.Mutex
	shared   int // held in the pool every client shares
	own      int // held in the owner's pool
	refused  int // since the last warning
	lastWarn time.Time
}

// enter admits a new connection to its handshake, or refuses it (false)
// when its pool is full: the shared one, and for the owner's connections
// the owner's too.
func (g *gate) enter(c net.Conn) (*handshake, bool) {
	g.mu.Lock()
	if g.shared < g.max {
		g.shared++
		g.mu.Unlock()
		return &handshake{g: g, held: true, pool: &g.shared}, true
	}
	g.mu.Unlock()
	uid, err := uint32(0), errors.New("peer uid: not looked up")
	if g.uid != nil {
		uid, err = g.uid(c)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil && uid == g.owner && g.own < g.max {
		g.own++
		return &handshake{g: g, held: true, pool: &g.own}, true
	}
	g.refused++
	if now := time.Now(); g.lastWarn.IsZero() || now.Sub(g.lastWarn) >= refusalLogEvery {
		args := []any{"refused", g.refused, "max_unauthenticated", g.max}
		switch {
		case err != nil:
			args = append(args, "client_uid", "unknown", "uid_err", err)
		case uid == g.owner:
			args = append(args, "client_uid", uid, "pool", "owner")
		default:
			args = append(args, "client_uid", uid)
		}
		g.log.Warn("SOCKS connections refused: too many have not authenticated (a local process is flooding the listener?)", args...)
		g.refused, g.lastWarn = 0, now
	}
	return nil, false
}

func (g *gate) leave(pool *int) {
	g.mu.Lock()
	*pool--
	g.mu.Unlock()
}

// handshake is one connection's way from accept to its CONNECT: it holds
// a place in the gate until it authenticates, and its deadline runs until
// the request has arrived.
type handshake struct {
	g    *gate
	pool *int // the gate's count it holds a place in

	mu      sync.Mutex
	held    bool // holds a place in the gate
	over    bool // finished, expired or ended: the deadline no longer acts
	expired bool
	stop    func() bool
}

func (h *handshake) releaseLocked() {
	if h.held {
		h.held = false
		h.g.leave(h.pool)
	}
}

// setStop records how to stop the deadline; a handshake already over
// stops it at once.
func (h *handshake) setStop(stop func() bool) {
	h.mu.Lock()
	over := h.over && !h.expired
	h.stop = stop
	h.mu.Unlock()
	if over {
		stop()
	}
}

// authenticated frees the connection's place: the client knows the
// password. The deadline still bounds its request.
func (h *handshake) authenticated() {
	h.mu.Lock()
	h.releaseLocked()
	h.mu.Unlock()
}

// finish ends the handshake when the CONNECT request has arrived; false
// when the deadline passed first (the connection is being closed).
func (h *handshake) finish() bool {
	h.mu.Lock()
	if h.expired {
		h.mu.Unlock()
		return false
	}
	h.over = true
	h.releaseLocked()
	stop := h.stop
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
	return true
}

// expire is the deadline: it reports whether the connection is to be
// closed (its handshake was not over).
func (h *handshake) expire() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.over {
		return false
	}
	h.over, h.expired = true, true
	h.releaseLocked()
	return true
}

// end is the connection's handler returning.
func (h *handshake) end() {
	h.mu.Lock()
	h.over = true
	h.releaseLocked()
	stop := h.stop
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// handshakeConn is an accepted connection while go-socks5 serves it: the
// library hands it back to the authenticator and to the CONNECT handler,
// which tell its handshake how far it got.
type handshakeConn struct {
	net.Conn
	h *handshake
}

// authenticated is the RFC 1929 username and password authentication, as
// go-socks5's UserPassAuthenticator does it, except that a client that
// passes no longer counts against MaxUnauthenticated, from before it is
// told so, and that the password is not kept in the request's AuthContext.
type authenticated struct{ creds credentials }

// GetCode implements socks5.Authenticator.
func (authenticated) GetCode() uint8 { return statute.MethodUserPassAuth }

// Authenticate implements socks5.Authenticator.
func (a authenticated) Authenticate(r io.Reader, w io.Writer, userAddr string) (*socks5.AuthContext, error) {
	if _, err := w.Write([]byte{statute.VersionSocks5, statute.MethodUserPassAuth}); err != nil {
		return nil, err
	}
	up, err := statute.ParseUserPassRequest(r)
	if err != nil {
		return nil, err
	}
	if !a.creds.Valid(string(up.User), string(up.Pass), userAddr) {
		if _, err := w.Write([]byte{statute.UserPassAuthVersion, statute.AuthFailure}); err != nil {
			return nil, err
		}
		return nil, statute.ErrUserAuthFailed
	}
	if hc, ok := w.(*handshakeConn); ok {
		hc.h.authenticated()
	}
	if _, err := w.Write([]byte{statute.UserPassAuthVersion, statute.AuthSuccess}); err != nil {
		return nil, err
	}
	return &socks5.AuthContext{Method: statute.MethodUserPassAuth, Payload: map[string]string{"username": string(up.User)}}, nil
}
