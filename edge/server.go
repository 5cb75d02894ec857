package edge

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/inflight"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

// Timeouts of the protocol. Variables of a Server, not package state.
const (
	handshakeTimeout  = 10 * time.Second // control stream and Hello
	openStreamTimeout = 5 * time.Second  // a free stream on a connector connection
	resultTimeout     = 30 * time.Second // the connector's Result (it dials the origin)
	writeTimeout      = 5 * time.Second  // one frame
	refuseLinger      = time.Second      // for a refused peer to read its Welcome
)

// Options tune a [Server]. The zero value means the defaults.
type Options struct {
	// Logger receives operational logs (default: discarded).
	Logger *slog.Logger
	// Audit receives one JSON line per stream (default: the config's
	// audit.file, else stderr).
	Audit io.Writer
	// Registry is where the metrics go and what /metrics serves (default: a
	// new registry with the Go and process collectors).
	Registry *prometheus.Registry
	// EdgeID names this edge in logs and Welcome frames (default: the
	// config's edge_id, else "edge-" and 6 random hex digits).
	EdgeID string
	// PacketConn, if set, is used instead of binding the config's listen
	// address (tests, socket activation). The server closes it.
	PacketConn net.PacketConn
	// TCPListener, if set, is used instead of binding the config's
	// tcp_listen (tests). The server closes it.
	TCPListener net.Listener
	// QUIC overrides the QUIC configuration (default: DefaultQUICConfig).
	QUIC *quic.Config
}

// DefaultQUICConfig is the edge's QUIC configuration, matching
// edgeclient's: a 5-second idle timeout (the lower of the two ends'
// applies, so older daemons get it too) that drops a dead or one-way link
// within seconds, keepalives inside it (quic-go caps them at half the idle
// timeout), room for many parallel streams per daemon, and flow-control
// windows large enough for bulk transfers.
func DefaultQUICConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           5 * time.Second,
		MaxIdleTimeout:                 5 * time.Second,
		KeepAlivePeriod:                10 * time.Second,
		MaxIncomingStreams:             4096,
		MaxIncomingUniStreams:          -1,
		InitialStreamReceiveWindow:     1 << 20,
		MaxStreamReceiveWindow:         16 << 20,
		InitialConnectionReceiveWindow: 2 << 20,
		MaxConnectionReceiveWindow:     64 << 20,
		// A loss-tolerant sender (the patched quic-go's BBR-style
		// controller): Reno settles at a few packets on a path with random
		// loss (BenchmarkLossy: 0.27 MB/s at 5 % and 50 ms, against 9 MB/s
		// for the kernel's TCP through the same link).
		BBR: true,
	}
}

// Server is a running edge. Make one with [New], then call [Server.Run].
type Server struct {
	checker
	log      *slog.Logger
	audit    *slog.Logger
	closers  []io.Closer
	reg      *prometheus.Registry
	m        *metrics
	byTrans  connsByTransport // live connections by role and transport (transports.go)
	edgeID   string
	grace    time.Duration
	registry *registry
	signer   atomic.Pointer[token.Signer] // signs stream assertions (assert.go)
	active   inflight.Tracker             // client streams being served: shutdown waits for none
	seq      atomic.Uint64
	cfg      atomic.Pointer[Config]
	reloadMu sync.Mutex

	udp   net.PacketConn
	tr    *quic.Transport
	ln    *quic.Listener
	tcpLn net.Listener // nil: no TCP listener (tcp.go)
	// tcpRefusals holds a slot per TCP refusal answered with a code (tcp.go).
	tcpRefusals chan struct{}
	tlsTCP      *tls.Config
	adminLn     net.Listener
	adminSrv    *http.Server
	signIn      *signIn    // the HTTPS sign-in server; nil when http_listen is off
	keys        *fleetKeys // the verification keys: the config's and the fleet's
	guard       *guard     // admission: what unauthenticated peers may hold
	fleet       *fleet     // the fleet's members, told to connectors (fleet.go)

	running   atomic.Bool
	stopping  atomic.Bool
	connWG    sync.WaitGroup
	streamWG  sync.WaitGroup
	closeOnce sync.Once
}

// New checks cfg, loads its certificate and keys, and binds the QUIC and
// admin listeners, so that [Server.Addr] is known before [Server.Run].
// Call Run, or Close if Run is never called.
func New(cfg *Config, opts Options) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("edge config: %w", err)
	}
	s := &Server{
		log:      opts.Logger,
		reg:      opts.Registry,
		edgeID:   opts.EdgeID,
		grace:    time.Duration(cfg.ShutdownGrace),
		registry: newRegistry(),
	}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.reg == nil {
		s.reg = newPromRegistry()
	}
	if s.edgeID == "" {
		s.edgeID = cfg.EdgeID
	}
	if s.edgeID == "" {
		var b [3]byte
		rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read does not fail
		s.edgeID = "edge-" + hex.EncodeToString(b[:])
	}
	s.log = s.log.With("edge_id", s.edgeID)
	s.m = newMetrics(s.reg)

	auditW := opts.Audit
	if auditW == nil {
		auditW = os.Stderr
		if f := cfg.Audit.File; f != "" && f != "-" {
			af, err := os.OpenFile(cfg.Path(f), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return nil, fmt.Errorf("audit.file: %w", err)
			}
			s.closers = append(s.closers, af)
			auditW = af
		}
	}
	s.audit = slog.New(slog.NewJSONHandler(auditW, nil))

	// The sign-in store, opened first: with store:, the fleet's keys
	// are in it.
	var st oauth.Store
	if cfg.HTTPListen != HTTPOff || cfg.Store != nil {
		if st, err = openStore(context.Background(), cfg, s.log); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, st)
	}
	own, err := cfg.PublicKeys()
	if err != nil {
		return nil, err
	}
	var ks keyStore
	if pg, ok := st.(*postgres.Store); ok {
		ks = pg
	}
	s.keys = newFleetKeys(ks, s.log, own)
	keys, err := s.keys.start(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	s.verifier, err = token.NewVerifier(keys, token.VerifierOptions{
		Issuer: cfg.Tokens.Issuer, Leeway: time.Duration(cfg.Tokens.Leeway),
	})
	if err != nil {
		return nil, fmt.Errorf("tokens.signing_keys: %w", err)
	}
	asg, err := assertionSigner(cfg, nil)
	if err != nil {
		return nil, err
	}
	s.signer.Store(asg)
	s.snap.Store(compile(cfg))
	s.cfg.Store(cfg)

	cert, err := tls.LoadX509KeyPair(cfg.Path(cfg.TLS.CertFile), cfg.Path(cfg.TLS.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("tls: load %s and %s: %w", cfg.Path(cfg.TLS.CertFile), cfg.Path(cfg.TLS.KeyFile), err)
	}
	tlsConf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{wire.ALPN},
		MinVersion:   tls.VersionTLS13,
	}
	qconf := opts.QUIC
	if qconf == nil {
		qconf = DefaultQUICConfig()
	}

	s.udp = opts.PacketConn
	if s.udp == nil {
		addr, err := net.ResolveUDPAddr("udp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		if s.udp, err = net.ListenUDP("udp", addr); err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
	}
	resetKey, err := statelessResetKey(cfg)
	if err != nil {
		return nil, err
	}
	s.guard = newGuard(cfg.Limits, qconf, s.log, s.m)
	s.tr = &quic.Transport{Conn: s.udp, StatelessResetKey: resetKey,
		VerifySourceAddress: s.guard.verifySourceAddress, ConnContext: s.guard.connContext}
	if s.ln, err = s.tr.Listen(tlsConf, s.guard.quicConfig()); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := s.listenTCP(cfg, opts.TCPListener, tlsConf); err != nil {
		return nil, err
	}
	if s.signIn, err = newSignIn(cfg, s.log, keys, cert, st); err != nil {
		return nil, err
	}
	s.keys.apply = s.applyKeys
	if s.signIn != nil {
		s.access = s.signIn.auth
		s.signIn.srv.Handler = newJoinSite(s, s.signIn.srv.Handler) // joinhttp.go
	}
	if s.fleet, err = newFleet(cfg, s.edgeID, st, s.Addr().String(), s.log, s.tellMembers); err != nil {
		return nil, err
	}
	if cfg.AdminListen != AdminOff {
		if s.adminLn, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			return nil, fmt.Errorf("admin_listen: %w", err)
		}
		s.adminSrv = s.adminServer(cfg)
	}
	return s, nil
}

// Addr is the UDP address of the QUIC listener.
func (s *Server) Addr() net.Addr { return s.udp.LocalAddr() }

// AdminAddr is the TCP address of /metrics and /healthz, nil when off.
func (s *Server) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// EdgeID names this edge in logs, audit lines and Welcome frames.
func (s *Server) EdgeID() string { return s.edgeID }

// Registry is the registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Keys returns the current token verification keys: the config's (the
// first one signs), then, with a shared store, the others the fleet
// published.
func (s *Server) Keys() []wire.PublicKey { return s.verifier.Keys() }

// Run serves until ctx ends, then shuts down: it stops accepting
// connections, sends Drain on every connection, lets open streams run for
// the shutdown grace, closes every connection with CodeGoingAway and
// returns nil. It returns an error if a listener fails.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("edge server: Run called twice")
	}
	defer s.closeAll()
	connsCtx, closeConns := context.WithCancel(context.WithoutCancel(ctx))
	defer closeConns()

	s.log.Info("edge serving", "addr", s.Addr().String(), "tcp", addrString(s.TCPAddr()), "admin", addrString(s.AdminAddr()), "signin", s.PublicURL())
	g, gctx := errgroup.WithContext(ctx)
	if s.signIn != nil {
		s.signIn.run(gctx, g)
	}
	g.Go(func() error { return s.fleet.run(gctx) })
	g.Go(func() error { return s.keys.run(gctx) })
	if s.adminSrv != nil {
		g.Go(func() error {
			if err := s.adminSrv.Serve(s.adminLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("admin: %w", err)
			}
			return nil
		})
	}
	if s.tcpLn != nil {
		g.Go(func() error { return s.acceptTCP(gctx, connsCtx) })
	}
	g.Go(func() error {
		err := s.acceptLoop(gctx, connsCtx)
		s.shutdown(closeConns)
		if s.adminSrv != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			s.adminSrv.Shutdown(sctx) //nolint:errcheck // Close below covers a timeout
			s.adminSrv.Close()
		}
		return err
	})
	err := g.Wait()
	s.log.Info("edge stopped")
	return err
}

func (s *Server) acceptLoop(ctx, connsCtx context.Context) error {
	for {
		conn, err := s.ln.Accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.connWG.Go(func() { s.handleConn(connsCtx, transport.QUIC(conn)) })
	}
}

func (s *Server) shutdown(closeConns context.CancelFunc) {
	s.stopping.Store(true)
	s.ln.Close()
	if s.tcpLn != nil {
		s.tcpLn.Close()
	}
	// Out of the fleet before the Drain: connectors learn it from the
	// other edges and drain their connections here for good.
	s.fleet.leave()
	peers := s.registry.all()
	s.log.Info("edge shutting down", "connections", len(peers), "grace", s.grace)
	broadcast(peers, &wire.Drain{Reason: "edge shutting down"})
	deadline := time.Now().Add(s.grace)
	select {
	case <-s.active.Idle():
		// The last bytes of the last streams may still be in flight: closing
		// the connections now would drop them. Give them a few round trips,
		// or until the peers close, within the grace.
		s.linger(time.Until(deadline))
	case <-time.After(s.grace):
		s.log.Warn("shutdown grace over; cutting open streams")
	}
	closeConns()
	s.connWG.Wait()
	s.streamWG.Wait()
}

// linger waits up to four smoothed round trips of the slowest connection
// (between 50 ms and 1 s, and at most limit) or until every peer has closed.
func (s *Server) linger(limit time.Duration) {
	peers := s.registry.all()
	var rtt time.Duration
	for _, p := range peers {
		rtt = max(rtt, p.conn.Stats().SmoothedRTT)
	}
	timer := time.NewTimer(lingerTime(rtt, limit))
	defer timer.Stop()
	for _, p := range peers {
		select {
		case <-p.conn.Context().Done():
		case <-timer.C:
			return
		}
	}
}

// lingerTime is how long to keep a connection open after its last stream
// ended, so that the stream's tail gets delivered (and resent once if lost)
// before a close discards it: four smoothed round trips, at least 50 ms,
// at most 1 s and at most limit.
func lingerTime(rtt, limit time.Duration) time.Duration {
	return min(max(4*rtt, 50*time.Millisecond), time.Second, limit)
}

// Close releases the listeners when Run was never called. It is safe to
// call after Run returned.
func (s *Server) Close() error {
	if s.running.Load() {
		return nil
	}
	s.closeAll()
	return nil
}

func (s *Server) closeAll() {
	s.closeOnce.Do(func() {
		if s.ln != nil {
			s.ln.Close()
		}
		if s.tr != nil {
			s.tr.Close()
		}
		if s.udp != nil {
			s.udp.Close()
		}
		if s.adminLn != nil {
			s.adminLn.Close()
		}
		if s.tcpLn != nil {
			s.tcpLn.Close()
		}
		for _, c := range s.closers {
			c.Close()
		}
		s.signIn.close()
	})
}

// Reload swaps in a new configuration without dropping connections: apps,
// policies, tunnels and token keys apply to the next stream and the next
// handshake. Connectors get the new keys (a Keys frame) when they changed;
// connector connections of a removed tunnel, or one whose secret changed,
// are closed. Listen addresses, TLS files and the issuer are not reloaded.
func (s *Server) Reload(cfg *Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("edge config: %w", err)
	}
	keys, err := cfg.PublicKeys()
	if err != nil {
		return err
	}
	signInSet, err := s.prepareSignIn(cfg, keys)
	if err != nil {
		return err
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	asg, err := assertionSigner(cfg, s.signer.Load())
	if err != nil {
		return err
	}
	old := s.keys.ownKeys()
	// New own keys are published to the fleet's store before the
	// sign-in server signs with them; the verifiers get them with the
	// fleet's under the keys' lock, so a watch's reread cannot put
	// older keys back.
	err = s.keys.reload(context.Background(), cfg, keys, func(union []wire.PublicKey) error {
		if err := s.verifier.SetKeys(union); err != nil {
			return fmt.Errorf("tokens.signing_keys: %w", err)
		}
		if signInSet != nil {
			signInSet.Keys = union
		}
		if err := s.applySignIn(signInSet); err != nil {
			s.log.Error("sign-in settings not applied", "err", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.signer.Store(asg)
	snap := compile(cfg)
	s.snap.Store(snap)
	if note := storeChange(s.cfg.Load(), cfg); note != "" {
		s.log.Warn(note)
	}
	if note := fleetChange(s.cfg.Load(), cfg); note != "" {
		s.log.Warn(note)
	}
	s.cfg.Store(cfg)
	changed := !slices.EqualFunc(old, keys, func(a, b wire.PublicKey) bool { return a.ID == b.ID && a.Key.Equal(b.Key) })
	var connectors []*peer
	for _, p := range s.registry.all() {
		if p.tunnel == nil {
			continue
		}
		if t, ok := snap.tunnels[p.tunnel.id]; !ok || t.secretHash != p.tunnel.secretHash {
			p.log.Info("closing connector connection: its tunnel was removed or its secret changed")
			p.conn.CloseWithError(wire.CodeUnauthenticated, "tunnel removed or secret changed") //nolint:errcheck
			continue
		}
		connectors = append(connectors, p)
	}
	if changed {
		broadcast(connectors, &wire.Keys{Keys: keys})
	}
	s.log.Info("edge config reloaded", "apps", len(cfg.Apps), "tunnels", len(cfg.Tunnels), "keys_changed", changed)
	return nil
}

// applyKeys puts the union of the edge's and the fleet's keys in the
// verifiers (the streams' and the sign-in server's: JWKS, token exchange)
// when the fleet's keys changed between reloads.
func (s *Server) applyKeys(keys []wire.PublicKey) {
	if err := s.verifier.SetKeys(keys); err != nil {
		s.log.Error("the fleet's keys not applied", "err", err)
		return
	}
	if s.signIn != nil {
		if err := s.signIn.auth.SetKeys(keys); err != nil {
			s.log.Error("the fleet's keys not applied to the sign-in server", "err", err)
		}
	}
}

// broadcast sends f on the control stream of every peer in parallel and
// waits (each send is bounded by writeTimeout). A peer whose send fails is
// left to its handler, which sees the connection die.
func broadcast(peers []*peer, f wire.Frame) {
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			if err := p.send(f); err != nil {
				p.log.Debug("control frame not sent", "frame", f.FrameType().String(), "err", err)
			}
		})
	}
	wg.Wait()
}

func (s *Server) nextID(kind string) string {
	return s.edgeID + "." + kind + strconv.FormatUint(s.seq.Add(1), 10)
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}
