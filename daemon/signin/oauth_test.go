package signin

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/daemon/config"
)

// HTTPClient reaches the edge's public_url host (its TLS server name) at
// the configured address, and verifies the certificate for that name.
func TestHTTPClientServerName(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "edge at "+r.Host)
	}))
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// httptest's certificate names example.com; the edge is at 127.0.0.1.
	e := config.Edge{Name: "e", Address: "127.0.0.1:7844", ServerName: "example.com", RootCAs: pool, AuthURL: "https://127.0.0.1:" + port}
	hc := HTTPClient(e)
	for _, u := range []string{e.AuthURL + "/x", "https://example.com:" + port + "/x"} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s %s", u, resp.Status, b)
		}
	}
	// Another name is neither mapped nor trusted.
	bad := config.Edge{Name: "e", Address: "127.0.0.1:7844", ServerName: "other.test", RootCAs: pool, AuthURL: "https://127.0.0.1:" + port}
	if _, err := HTTPClient(bad).Get(bad.AuthURL); err == nil {
		t.Fatal("a certificate for another name was accepted")
	}
}

// redact removes every token of the form from an error, not only the
// first one it finds.
func TestRedact(t *testing.T) {
	form := url.Values{"token": {"tok-secret"}, "code": {"code-secret"}, "client_id": {ClientID}}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"one", errors.New("post failed: tok-secret")},
		{"both", errors.New("post failed: code-secret and tok-secret")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := redact(tc.err, form).Error()
			if strings.Contains(got, "secret") || !strings.Contains(got, "[redacted]") {
				t.Fatalf("redact: %q", got)
			}
		})
	}
	plain := errors.New("connection refused")
	if got := redact(plain, form); got != plain {
		t.Fatalf("an error without tokens was replaced: %v", got)
	}
}
