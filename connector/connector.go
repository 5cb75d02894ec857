package connector

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/token"
)

// Connector serves one tunnel's streams from every edge it is given. Make
// one with New and call Run once.
type Connector struct {
	cfg    Config
	log    *slog.Logger
	caPool *x509.CertPool
	slots  []*slot   // the configured edges' connections
	fleet  *followed // the fleet members' (fleet.go)
	m      *metrics
	// replay remembers the nonces of the stream assertions accepted on
	// any connection, so that each opens one stream.
	replay *token.ReplayCache
	// transports remembers, per network, that QUIC to the edges got no
	// answer and TLS on TCP did (edgeclient.DialAuto).
	transports *edgeclient.TransportMemo

	started  atomic.Bool
	draining atomic.Bool    // the context ended: refuse new streams
	streams  sync.WaitGroup // every stream's goroutine
	links    sync.WaitGroup // links the edge drained, finishing in the background
}

// New checks cfg and returns a Connector for it.
func New(cfg Config) (*Connector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pool, err := cfg.Credentials.CAPool()
	if err != nil {
		return nil, fmt.Errorf("connector: credentials: %w", err)
	}
	c := &Connector{cfg: cfg, log: cfg.Logger, caPool: pool, replay: token.NewReplayCache(0),
		transports: edgeclient.NewTransportMemo(edgeclient.Config{RetryQUICAfter: cfg.RetryQUICAfter})}
	for _, e := range cfg.Edges {
		for range cfg.HAConnections {
			c.slots = append(c.slots, newSlot(c, e, len(c.slots)))
		}
	}
	c.fleet = newFollowed(c)
	c.m = newMetrics(c)
	return c, nil
}

// Run builds a Connector from cfg and runs it until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	c, err := New(cfg)
	if err != nil {
		return err
	}
	return c.Run(ctx)
}

// ID returns the connector's id, sent to the edges in every Hello.
func (c *Connector) ID() string { return c.cfg.ConnectorID }

// Run connects to the edges and serves streams until ctx ends. Then it
// sends Drain on every connection, lets open streams finish for the grace
// period (returning early once they have), closes the connections and
// returns nil. It returns an error only if it could not start, e.g. when the
// admin address is taken.
func (c *Connector) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("connector: Run called twice")
	}
	adminLn := c.cfg.AdminListener
	if adminLn == nil && c.cfg.AdminAddr != "" {
		var err error
		if adminLn, err = net.Listen("tcp", c.cfg.AdminAddr); err != nil {
			return fmt.Errorf("connector: admin listener: %w", err)
		}
	}
	var admin *http.Server
	adminDone := make(chan error, 1)
	if adminLn != nil {
		admin = c.adminServer(adminLn)
		c.log.Info("admin listening", "addr", adminLn.Addr().String(), "endpoints", "/ready /healthz /metrics")
		go func() { adminDone <- admin.Serve(adminLn) }()
	}

	c.log.Info("connector starting", "connector_id", c.cfg.ConnectorID, "tunnel_id", c.cfg.Credentials.TunnelID,
		"edges", c.cfg.Edges, "ha_connections", c.cfg.HAConnections, "ingress", c.ruleStrings())

	// hardCtx outlives ctx by the grace period: streams and connections
	// end with it.
	hardCtx, hardStop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer hardStop(nil)
	drainNoted := make(chan struct{})
	stopDrain := context.AfterFunc(ctx, func() {
		defer close(drainNoted)
		c.draining.Store(true)
		c.log.Info("shutting down: draining connections", "grace", c.cfg.Grace, "active_streams", c.activeStreams())
	})
	defer func() {
		// Run owns that goroutine too: it must not log after Run returned.
		if !stopDrain() {
			<-drainNoted
		}
	}()

	c.fleet.start(ctx, hardCtx)
	var slots sync.WaitGroup
	for _, s := range c.slots {
		slots.Go(func() { s.run(ctx, hardCtx) })
	}
	allDone := make(chan struct{})
	go func() {
		slots.Wait()
		c.fleet.close()
		c.links.Wait()
		c.streams.Wait()
		close(allDone)
	}()

	select {
	case <-allDone: // only once ctx has ended and nothing was open
	case <-ctx.Done():
		timer := time.NewTimer(c.cfg.Grace)
		select {
		case <-allDone:
		case <-timer.C:
			hardStop(errors.New("grace period over"))
			<-allDone
		}
		timer.Stop()
	}

	if admin != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := admin.Shutdown(sctx); err != nil {
			admin.Close()
		}
		if err := <-adminDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Warn("admin listener failed", "err", err)
		}
	}
	c.log.Info("connector stopped")
	return nil
}

func (c *Connector) ruleStrings() []string {
	var out []string
	for _, r := range c.cfg.Rules.All() {
		out = append(out, r.String())
	}
	return out
}

func (c *Connector) activeStreams() int64 {
	var n int64
	for _, s := range c.Status().Connections {
		n += s.ActiveStreams
	}
	return n
}

// Status is what /ready reports.
type Status struct {
	// Ready is true while at least one connection is healthy.
	Ready         bool         `json:"ready"`
	ConnectorID   string       `json:"connector_id"`
	TunnelID      string       `json:"tunnel_id"`
	Draining      bool         `json:"draining"`
	ActiveStreams int64        `json:"active_streams"`
	Connections   []ConnStatus `json:"connections"`
}

// ConnStatus is one connection to an edge.
type ConnStatus struct {
	Edge  string `json:"edge"`
	Index int    `json:"index"`
	// State is connecting, connected, backoff, draining or stopped.
	State string    `json:"state"`
	Since time.Time `json:"since"`
	// Healthy means connected, not draining: the edge may route here.
	Healthy       bool       `json:"healthy"`
	ActiveStreams int64      `json:"active_streams"`
	LastError     string     `json:"last_error,omitempty"`
	RetryAt       *time.Time `json:"retry_at,omitempty"`
	EdgeID        string     `json:"edge_id,omitempty"`
	ConnID        string     `json:"conn_id,omitempty"`
	// Transport is the connection's: QUIC, or TCP where UDP to the edge
	// got no answer.
	Transport string `json:"transport,omitempty"`
	// FleetMember: an edge the connector follows because its fleet's
	// list names it, not one it was configured with.
	FleetMember bool `json:"fleet_member,omitempty"`
}

// Status returns the state of every connection.
func (c *Connector) Status() Status {
	st := Status{ConnectorID: c.cfg.ConnectorID, TunnelID: c.cfg.Credentials.TunnelID, Draining: c.draining.Load()}
	for _, s := range slices.Concat(c.slots, c.fleet.slots()) {
		for _, cs := range s.status() {
			st.Connections = append(st.Connections, cs)
			st.ActiveStreams += cs.ActiveStreams
			st.Ready = st.Ready || cs.Healthy
		}
	}
	if st.Draining {
		st.Ready = false
	}
	return st
}
