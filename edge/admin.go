package edge

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminHandler serves /metrics (this server's registry) and /healthz.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

// Health is the JSON body of /healthz.
type Health struct {
	Status     string         `json:"status"` // "ok" or "draining"
	EdgeID     string         `json:"edge_id"`
	Connectors map[string]int `json:"connectors"` // tunnel name → live connections
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
	code := http.StatusOK
	if s.stopping.Load() {
		h.Status, code = "draining", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(h) //nolint:errcheck // the client went away
}
