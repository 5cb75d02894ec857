package edge

import (
	"fmt"
	"time"
)

// Defaults of [Limits]. With them, a flood from sources that have not
// presented a valid token holds at most, in the edge:
//
//	handshakes     64 × ~60 KB (QUIC and TLS state)                   ≈  4 MB
//	connections   128 × (~70 KB connection + 9 streams × ~2 KB
//	              + a 64 KB receive window + 8 waiting Open frames)   ≈ 25 MB
//
// about 30 MB above idle whatever the number of streams or connections
// the flood attempts; the rest is refused at the first packet (QUIC
// CONNECTION_REFUSED, which costs no connection state) or reset with
// [wire.CodeOverloaded]. BenchmarkAbuseFlood (internal/systest/e2e)
// measures it.
const (
	DefaultFirstFrameTimeout             = 2 * time.Second
	DefaultPendingStreamsPerConn         = 64
	DefaultPendingStreams                = 1024
	DefaultUnauthenticatedStreams        = 8
	DefaultUnauthenticatedWindow         = 64 << 10
	DefaultUnauthenticatedRefusals       = 32
	DefaultUnauthenticatedTimeout        = 30 * time.Second
	DefaultUnauthenticatedConns          = 128
	DefaultUnauthenticatedConnsPerSource = 8
	DefaultConnsPerSource                = 256
	DefaultConns                         = 8192
	DefaultHandshakes                    = 64
	DefaultRetryAbove                    = 16
	DefaultHandshakeRate                 = 200
	DefaultTrustedSourceTTL              = time.Hour
	DefaultTrustedSources                = 4096
	DefaultRefusalLogEvery               = time.Minute
)

// Limits bound what a peer can make the edge hold before it has
// authenticated: a client by a stream whose token verifies, a connector by
// its tunnel secret in Hello. A source is an IPv4 address or an IPv6 /64.
// A source is trusted for TrustedSourceTTL after one of its connections
// authenticated; every other source is untrusted. Each field's zero value
// means its default.
type Limits struct {
	// FirstFrameTimeout is how long a new stream may take to send its Open
	// frame (default 2s); then it is reset with bad_request.
	FirstFrameTimeout Duration `yaml:"first_frame_timeout,omitempty"`
	// PendingStreamsPerConn caps the streams of one connection that wait
	// for their Open frame (default 64); one more is reset at once with
	// overloaded.
	PendingStreamsPerConn int `yaml:"pending_streams_per_conn,omitempty"`
	// PendingStreams caps, across the edge, the streams waiting for their
	// Open frame on connections from trusted sources that have not
	// authenticated yet (default 1024); one more is reset at once with
	// overloaded. Untrusted sources are bounded by their stream limit.
	PendingStreams int `yaml:"pending_streams,omitempty"`
	// UnauthenticatedStreams is the QUIC stream limit (besides the control
	// stream) of a connection from an untrusted source (default 8), and its
	// receive window is UnauthenticatedWindow bytes (default 64 KiB) until
	// it authenticates. Once it has, the edge sends it Drain so that the
	// daemon dials a connection with the full limit, and closes the old
	// one when it has been idle a while.
	UnauthenticatedStreams int `yaml:"unauthenticated_streams,omitempty"`
	UnauthenticatedWindow  int `yaml:"unauthenticated_window,omitempty"`
	// UnauthenticatedRefusals is how many streams a client connection may
	// have refused before it presents a valid token (default 32); then the
	// connection is closed with unauthenticated.
	UnauthenticatedRefusals int `yaml:"unauthenticated_refusals,omitempty"`
	// UnauthenticatedTimeout closes a client connection from an untrusted
	// source that presented no valid token in this time (default 30s).
	UnauthenticatedTimeout Duration `yaml:"unauthenticated_timeout,omitempty"`
	// UnauthenticatedConns caps the connections from untrusted sources
	// that have not authenticated, handshakes included (default 128);
	// UnauthenticatedConnsPerSource caps those of one source, trusted or
	// not (default 8). More are refused at their first packet.
	UnauthenticatedConns          int `yaml:"unauthenticated_conns,omitempty"`
	UnauthenticatedConnsPerSource int `yaml:"unauthenticated_conns_per_source,omitempty"`
	// ConnsPerSource and Conns cap every connection, of one source
	// (default 256) and in all (default 8192).
	ConnsPerSource int `yaml:"conns_per_source,omitempty"`
	Conns          int `yaml:"conns,omitempty"`
	// Handshakes caps the QUIC handshakes in progress (default 64); above
	// RetryAbove of them (default 16), or above HandshakeRate new
	// connections a second (default 200), a new connection must first
	// prove its address (a QUIC Retry, one round trip). A connection that
	// a bound refuses anyway gets no Retry: it is refused at its first
	// packet.
	Handshakes    int `yaml:"handshakes,omitempty"`
	RetryAbove    int `yaml:"retry_above,omitempty"`
	HandshakeRate int `yaml:"handshake_rate,omitempty"`
	// TrustedSourceTTL is how long a source stays trusted after its last
	// authentication (default 1h); at most TrustedSources (default 4096)
	// are remembered.
	TrustedSourceTTL Duration `yaml:"trusted_source_ttl,omitempty"`
	TrustedSources   int      `yaml:"trusted_sources,omitempty"`
	// RefusalLogEvery is how often a refused source is logged at most
	// (default 1m); the line counts what was refused meanwhile.
	RefusalLogEvery Duration `yaml:"refusal_log_every,omitempty"`
}

func (l *Limits) setDefaults() {
	setDefault(&l.FirstFrameTimeout, Duration(DefaultFirstFrameTimeout))
	setDefault(&l.PendingStreamsPerConn, DefaultPendingStreamsPerConn)
	setDefault(&l.PendingStreams, DefaultPendingStreams)
	setDefault(&l.UnauthenticatedStreams, DefaultUnauthenticatedStreams)
	setDefault(&l.UnauthenticatedWindow, DefaultUnauthenticatedWindow)
	setDefault(&l.UnauthenticatedRefusals, DefaultUnauthenticatedRefusals)
	setDefault(&l.UnauthenticatedTimeout, Duration(DefaultUnauthenticatedTimeout))
	setDefault(&l.UnauthenticatedConns, DefaultUnauthenticatedConns)
	setDefault(&l.UnauthenticatedConnsPerSource, DefaultUnauthenticatedConnsPerSource)
	setDefault(&l.ConnsPerSource, DefaultConnsPerSource)
	setDefault(&l.Conns, DefaultConns)
	setDefault(&l.Handshakes, DefaultHandshakes)
	setDefault(&l.RetryAbove, DefaultRetryAbove)
	setDefault(&l.HandshakeRate, DefaultHandshakeRate)
	setDefault(&l.TrustedSourceTTL, Duration(DefaultTrustedSourceTTL))
	setDefault(&l.TrustedSources, DefaultTrustedSources)
	setDefault(&l.RefusalLogEvery, Duration(DefaultRefusalLogEvery))
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

func (l *Limits) validate(v *validator) {
	for name, n := range map[string]int{
		"pending_streams_per_conn": l.PendingStreamsPerConn, "pending_streams": l.PendingStreams,
		"unauthenticated_streams": l.UnauthenticatedStreams, "unauthenticated_refusals": l.UnauthenticatedRefusals,
		"unauthenticated_conns": l.UnauthenticatedConns, "unauthenticated_conns_per_source": l.UnauthenticatedConnsPerSource,
		"conns_per_source": l.ConnsPerSource, "conns": l.Conns, "handshakes": l.Handshakes,
		"retry_above": l.RetryAbove, "handshake_rate": l.HandshakeRate, "trusted_sources": l.TrustedSources,
	} {
		if n < 0 {
			v.add("limits."+name, "must be positive")
		}
	}
	for name, d := range map[string]Duration{
		"first_frame_timeout": l.FirstFrameTimeout, "unauthenticated_timeout": l.UnauthenticatedTimeout,
		"trusted_source_ttl": l.TrustedSourceTTL, "refusal_log_every": l.RefusalLogEvery,
	} {
		if d < 0 {
			v.add("limits."+name, "must be positive")
		}
	}
	if l.UnauthenticatedWindow != 0 && l.UnauthenticatedWindow < 4<<10 {
		v.add("limits.unauthenticated_window", fmt.Sprintf("%d bytes is too small for an Open frame; at least 4096", l.UnauthenticatedWindow))
	}
}
