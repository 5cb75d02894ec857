package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAdminHost: the admin listener answers to IP literals, localhost and
// the names in admin_hosts only, so that a page that rebinds its own name
// to the edge's address (DNS rebinding) cannot read it.
func TestAdminHost(t *testing.T) {
	h := adminHosts([]string{"Metrics.Internal.Example."}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}))
	for _, tc := range []struct {
		name, host string
		want       int
	}{
		{"loopback with port", "127.0.0.1:7845", http.StatusOK},
		{"loopback without port", "127.0.0.1", http.StatusOK},
		{"any IPv4 literal", "192.0.2.7:7845", http.StatusOK},
		{"IPv6 literal", "[::1]:7845", http.StatusOK},
		{"localhost", "localhost:7845", http.StatusOK},
		{"configured name", "metrics.internal.example:7845", http.StatusOK},
		{"configured name, trailing dot", "METRICS.internal.example.", http.StatusOK},
		{"rebinding name", "evil.example", http.StatusMisdirectedRequest},
		{"rebinding name with port", "evil.example:7845", http.StatusMisdirectedRequest},
		{"subdomain of localhost", "evil.localhost", http.StatusMisdirectedRequest},
		{"empty", "", http.StatusMisdirectedRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/metrics", nil)
			r.Host = tc.host
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("Host %q: %d %q, want %d", tc.host, w.Code, w.Body.String(), tc.want)
			}
			if tc.want != http.StatusOK && !strings.Contains(w.Body.String(), "admin_hosts") {
				t.Errorf("refusal body %q does not say what to configure", w.Body.String())
			}
		})
	}
}

// TestAdminListenerRefusesForeignHost: the real admin listener refuses
// Host: evil.example and answers its own address, and has every timeout.
func TestAdminListenerRefusesForeignHost(t *testing.T) {
	e := startEdge(t)
	addr := e.srv.AdminAddr().String()
	for _, tc := range []struct {
		name, host string
		want       int
	}{
		{"own address", addr, http.StatusOK},
		{"evil.example", "evil.example", http.StatusMisdirectedRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("Host %q: %d %s, want %d", tc.host, resp.StatusCode, body, tc.want)
			}
		})
	}
	srv := e.srv.adminSrv
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Fatalf("admin server lacks a bound: read header %s, read %s, write %s, idle %s, max header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}
