package edge

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the edge's Prometheus metrics, registered on a registry of
// the server's own (never the global default).
type metrics struct {
	streams           *prometheus.CounterVec
	activeStreams     prometheus.Gauge
	bytes             *prometheus.CounterVec
	connectorConns    *prometheus.GaugeVec
	connectorInsts    *prometheus.GaugeVec
	quietConns        *prometheus.GaugeVec
	quietMoved        prometheus.Counter // streams moved off a connection that went quiet before it answered
	clientConns       prometheus.Gauge
	connsByTransport  *prometheus.GaugeVec // role, transport (transports.go)
	handshakeFailures *prometheus.CounterVec
	checkSeconds      prometheus.Histogram
	setupSeconds      prometheus.Histogram

	// Admission (guard.go).
	refused            *prometheus.CounterVec
	addressValidations prometheus.Counter
	handshakes         prometheus.Gauge
	unauthConns        prometheus.Gauge
	pendingStreams     prometheus.Gauge
	trustedSources     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	const ns = "airlock_edge"
	m := &metrics{
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "streams_total",
			Help: "Client streams by outcome (ok, unauthenticated, forbidden, no_connector, ...).",
		}, []string{"outcome"}),
		activeStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "active_streams", Help: "Client streams being handled or relayed now.",
		}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "stream_bytes_total",
			Help: "Bytes relayed, by direction (from_client, to_client).",
		}, []string{"direction"}),
		connectorConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "connector_connections", Help: "Live connector connections per tunnel.",
		}, []string{"tunnel"}),
		connectorInsts: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "connector_instances",
			Help: "Connector instances (distinct connector ids) with a live connection, per tunnel.",
		}, []string{"tunnel"}),
		quietConns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "quiet_connector_connections",
			Help: "Connector connections per tunnel that ping but were not heard lately; new streams go to the others first.",
		}, []string{"tunnel"}),
		quietMoved: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "streams_moved_from_quiet_total",
			Help: "Streams whose connector connection went quiet before it answered their Dial, moved to another connection of the tunnel.",
		}),
		clientConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "client_connections", Help: "Live client (daemon) connections.",
		}),
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "handshake_failures_total",
			Help: "Connections refused at the control stream, by reason.",
		}, []string{"reason"}),
		checkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "stream_check_seconds",
			Help:    "Time to check a stream's token and policy.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
		}),
		setupSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "stream_setup_seconds",
			Help:    "Time from a stream's Open frame to its Result, connector round trip included.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "refused_total",
			Help: "Connections and streams refused by a limit, by bound (handshakes, conns, conns_per_source, unauthenticated_conns, unauthenticated_conns_per_source, pending_streams, pending_streams_per_conn, unauthenticated_refusals, unauthenticated_timeout, first_frame_timeout).",
		}, []string{"bound"}),
		addressValidations: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "address_validations_total",
			Help: "New connections asked to prove their address first (QUIC Retry) because the edge was under load.",
		}),
		handshakes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "handshakes", Help: "QUIC handshakes in progress.",
		}),
		unauthConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "unauthenticated_connections",
			Help: "Connections from untrusted sources that have not authenticated, handshakes included.",
		}),
		pendingStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "pending_streams", Help: "Client streams waiting for their Open frame.",
		}),
		connsByTransport: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "connections",
			Help: "Live client and connector connections by role (client, connector) and transport (quic, tcp).",
		}, []string{"role", "transport"}),
		trustedSources: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "trusted_sources",
			Help: "Source addresses that authenticated recently and get the full stream limit.",
		}),
	}
	reg.MustRegister(m.streams, m.activeStreams, m.bytes, m.connectorConns, m.connectorInsts, m.quietConns, m.quietMoved, m.clientConns,
		m.handshakeFailures, m.checkSeconds, m.setupSeconds,
		m.refused, m.addressValidations, m.handshakes, m.unauthConns, m.pendingStreams, m.trustedSources, m.connsByTransport)
	return m
}

// newPromRegistry returns a registry with the Go and process collectors.
func newPromRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
