package connector

import (
	"github.com/airlockhq/airlock/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the connector's Prometheus series, in a registry of its own.
type metrics struct {
	reg           *prometheus.Registry
	streams       *prometheus.CounterVec
	activeStreams prometheus.Gauge
	bytes         *prometheus.CounterVec
	toOrigin      prometheus.Counter
	fromOrigin    prometheus.Counter
	reconnects    prometheus.Counter
	originDial    *prometheus.HistogramVec
}

const namespace = "airlock_connector"

// States a connection can be in, as /ready and the metrics report them.
const (
	StateConnecting = "connecting"
	StateConnected  = "connected"
	StateBackoff    = "backoff"
	StateDraining   = "draining"
	StateStopped    = "stopped"
)

var allStates = []string{StateConnecting, StateConnected, StateBackoff, StateDraining, StateStopped}

func newMetrics(c *Connector) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "streams_total",
			Help: "Streams the edges opened, by outcome code.",
		}, []string{"outcome"}),
		activeStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "active_streams",
			Help: "Streams spliced to an origin right now.",
		}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "bytes_total",
			Help: "Bytes relayed between edges and origins, by direction.",
		}, []string{"direction"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "reconnects_total",
			Help: "Dials to an edge made after a failed dial or a lost connection.",
		}),
		originDial: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "origin_dial_seconds",
			Help:    "Time to dial an origin, by result.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
	}
	m.toOrigin = m.bytes.WithLabelValues("to_origin")
	m.fromOrigin = m.bytes.WithLabelValues("from_origin")
	for code := wire.CodeOK; code <= wire.CodeGoingAway; code++ {
		m.streams.WithLabelValues(code.Slug())
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "info",
		Help:        "Always 1; labels name this connector.",
		ConstLabels: prometheus.Labels{"connector_id": c.cfg.ConnectorID, "tunnel_id": c.cfg.Credentials.TunnelID, "software": c.cfg.Software},
	})
	info.Set(1)
	members := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "fleet_members",
		Help: "Fleet members the connector holds connections to besides its configured edges (at most 16).",
	}, func() float64 { return float64(c.fleet.followedCount()) })
	m.reg.MustRegister(
		m.streams, m.activeStreams, m.bytes, m.reconnects, m.originDial, info, members,
		&stateCollector{c: c, desc: prometheus.NewDesc(namespace+"_connections", "Connections to edges, by state.", []string{"state"}, nil)},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// stateCollector counts connections by state when scraped, from the same
// status /ready shows.
type stateCollector struct {
	c    *Connector
	desc *prometheus.Desc
}

func (s *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s *stateCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{}
	for _, st := range s.c.Status().Connections {
		counts[st.State]++
	}
	for _, state := range allStates {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, float64(counts[state]), state)
	}
}
