package connector

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the admin endpoints:
//
//   - GET /ready: [Status] as JSON; 200 while at least one connection is
//     healthy (connected and not draining), 503 otherwise.
//   - GET /healthz: 200 "ok" while the process serves HTTP (liveness).
//   - GET /metrics: Prometheus metrics from the connector's own registry.
func (c *Connector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", c.serveReady)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.m.reg, promhttp.HandlerOpts{Registry: c.m.reg}))
	return mux
}

func (c *Connector) serveReady(w http.ResponseWriter, _ *http.Request) {
	st := c.Status()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !st.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(st)
}

func (c *Connector) adminServer(ln net.Listener) *http.Server {
	h := c.Handler()
	if isLoopback(ln.Addr()) {
		h = loopbackOnly(h)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// loopbackOnly refuses requests whose Host is not a loopback name or
// address, so that a web page cannot read the admin endpoints through DNS
// rebinding.
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		ip := net.ParseIP(strings.Trim(host, "[]"))
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "forbidden: the admin listener answers only to loopback host names", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
