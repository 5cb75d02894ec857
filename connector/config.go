package connector

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/airlockhq/airlock/connector/ingress"
	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/airlockhq/airlock/internal/buildinfo"
	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/quic-go/quic-go"
)

// Defaults for the zero values of [Config].
const (
	DefaultHAConnections     = 2
	DefaultGrace             = 30 * time.Second
	DefaultOriginDialTimeout = 10 * time.Second
	DefaultHeaderTimeout     = 10 * time.Second
	DefaultEdgeDialTimeout   = 15 * time.Second
	// MaxHAConnections bounds --ha-connections per edge.
	MaxHAConnections = 16
)

// Config is what a connector needs. Zero values mean the defaults named on
// each field.
type Config struct {
	// Credentials says which tunnel to join and how to trust the edges.
	// Required.
	Credentials *credentials.Credentials
	// Edges are the edges' UDP host:port addresses. Empty means those in
	// Credentials.
	Edges []string
	// HAConnections is the number of connections to each edge.
	// Zero means DefaultHAConnections.
	HAConnections int
	// Rules maps app hostnames to origins. Required, from ingress.New.
	Rules *ingress.Rules
	// Grace is how long open streams may go on once the context ends.
	// Zero means DefaultGrace; negative means none.
	Grace time.Duration
	// OriginDialTimeout bounds one TCP dial to an origin.
	// Zero means DefaultOriginDialTimeout.
	OriginDialTimeout time.Duration
	// HeaderTimeout bounds how long the edge may take to send a stream's
	// Dial frame. Zero means DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// EdgeDialTimeout bounds one dial and handshake with an edge.
	// Zero means DefaultEdgeDialTimeout.
	EdgeDialTimeout time.Duration
	// AdminListener, if set, serves the admin endpoints; Run closes it.
	AdminListener net.Listener
	// AdminAddr is where to listen for the admin endpoints when
	// AdminListener is nil. Empty means no admin listener.
	AdminAddr string
	// Backoff shapes the delays between reconnection attempts. The zero
	// value means 100 ms doubling to 30 s, full jitter.
	Backoff backoff.Config
	// QUIC overrides the transport settings. Nil means
	// edgeclient.DefaultQUICConfig.
	QUIC *quic.Config
	// RetryQUICAfter is how long a network where UDP to the edges got no
	// answer stays on TLS on TCP before QUIC is tried again beside each
	// TCP link (which moves to QUIC when it answers). Zero means
	// edgeclient.DefaultRetryQUICAfter.
	RetryQUICAfter time.Duration
	// ConnectorID identifies this process to the edges. Empty means random.
	ConnectorID string
	// Software is sent in Hello. Empty means buildinfo.Software("airlock-connector").
	Software string
	// Logger receives the connector's events. Nil discards them.
	Logger *slog.Logger
	// Now is the clock the edge's stream assertions are checked against
	// (their lifetime and replay window). Nil means time.Now; tests set
	// one they move.
	Now func() time.Time
}

// withDefaults checks c and returns a copy with the defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.Credentials == nil {
		return c, errors.New("connector: no credentials")
	}
	if err := c.Credentials.Validate(); err != nil {
		return c, fmt.Errorf("connector: credentials: %w", err)
	}
	if c.Rules == nil {
		return c, errors.New("connector: no ingress rules")
	}
	if len(c.Edges) == 0 {
		c.Edges = c.Credentials.Edges
	}
	seen := map[string]bool{}
	for i, e := range c.Edges {
		if err := wire.CheckTarget(e); err != nil {
			return c, fmt.Errorf("connector: edge %d: %w", i+1, err)
		}
		if seen[e] {
			return c, fmt.Errorf("connector: edge %s is listed twice", e)
		}
		seen[e] = true
	}
	switch {
	case c.HAConnections == 0:
		c.HAConnections = DefaultHAConnections
	case c.HAConnections < 0 || c.HAConnections > MaxHAConnections:
		return c, fmt.Errorf("connector: %d HA connections per edge: want 1 to %d", c.HAConnections, MaxHAConnections)
	}
	switch {
	case c.Grace == 0:
		c.Grace = DefaultGrace
	case c.Grace < 0:
		c.Grace = 0
	}
	if c.OriginDialTimeout <= 0 {
		c.OriginDialTimeout = DefaultOriginDialTimeout
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.EdgeDialTimeout <= 0 {
		c.EdgeDialTimeout = DefaultEdgeDialTimeout
	}
	if c.ConnectorID == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return c, fmt.Errorf("connector: id: %w", err)
		}
		c.ConnectorID = hex.EncodeToString(b[:])
	}
	if c.Software == "" {
		c.Software = buildinfo.Software("airlock-connector")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
