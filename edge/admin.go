package edge

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Timeouts and sizes of the admin listener: a client that trickles a
// request, or holds a connection open, is cut off.
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 10 * time.Second
	adminWriteTimeout      = 30 * time.Second
	adminIdleTimeout       = 60 * time.Second
	adminMaxHeaderBytes    = 16 << 10
)

// adminServer is the HTTP server of the admin listener: /metrics and
// /healthz behind the Host check, with read, write and idle timeouts.
func (s *Server) adminServer(cfg *Config) *http.Server {
	return &http.Server{
		Handler:           adminHosts(cfg.AdminHosts, s.adminHandler()),
		ReadHeaderTimeout: adminReadHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeaderBytes,
	}
}

// adminHandler serves /metrics (this server's registry) and /healthz.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

// adminHosts refuses, with 421 Misdirected Request, a request whose Host
// is neither an IP literal, "localhost", nor one of names (compared
// without case and trailing dot): a web page that rebinds its own name to
// the edge's address cannot read the admin endpoints, since its requests
// carry its name.
func adminHosts(names []string, h http.Handler) http.Handler {
	allowed := []string{"localhost"}
	for _, n := range names {
		allowed = append(allowed, normalHost(n))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = normalHost(host)
		if net.ParseIP(strings.Trim(host, "[]")) == nil && !slices.Contains(allowed, host) {
			http.Error(w, "misdirected request: the edge's admin listener answers to IP addresses, localhost and the names in admin_hosts only", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func normalHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// Health is the JSON body of /healthz.
type Health struct {
	Status     string         `json:"status"` // "ok" or "draining"
	EdgeID     string         `json:"edge_id"`
	Connectors map[string]int `json:"connectors"` // tunnel name → live connections
	// Tunnels are every tunnel of the config and the connectors that hold
	// its connections here, by tunnel name.
	Tunnels map[string]TunnelHealth `json:"tunnels"`
	// Transports are the live client and connector connections by
	// transport: {"client": {"quic": 3, "tcp": 1}, "connector": {...}}.
	Transports map[string]map[string]int `json:"transports"`
	// Fleet is the list of the fleet's edges this edge tells its
	// connectors; absent without store:.
	Fleet *FleetHealth `json:"fleet,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	h := Health{Status: "ok", EdgeID: s.edgeID, Connectors: map[string]int{}}
	snap := s.snap.Load()
	for id, n := range s.registry.connectors() {
		name := id
		if t, ok := snap.tunnels[id]; ok {
			name = t.name
		}
		h.Connectors[name] = n
	}
	h.Tunnels = s.tunnelHealth(snap)
	h.Transports = s.byTrans.snapshot()
	h.Fleet = s.fleet.health()
	code := http.StatusOK
	if s.stopping.Load() {
		h.Status, code = "draining", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(h) //nolint:errcheck // the client went away
}
