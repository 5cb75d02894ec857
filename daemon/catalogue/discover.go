package catalogue

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/internal/joinlink"
	"github.com/airlockhq/airlock/internal/wire"
)

// Paths at an edge's auth_url (see the package documentation).
const (
	MetadataPath  = joinlink.ConfigurationPath
	CAPath        = joinlink.CAPath
	CataloguePath = joinlink.CataloguePath
)

// RequestTimeout bounds one request to the edge.
const RequestTimeout = 30 * time.Second

// Metadata is the edge's public metadata document.
type Metadata = joinlink.Configuration

// Edge is a discovered edge: its metadata and the CA to trust it with.
type Edge struct {
	Metadata
	// CAPEM is the pinned CA (PEM), empty for the system roots.
	CAPEM string
	// Roots is CAPEM parsed, nil for the system roots.
	Roots *x509.CertPool
}

// ConfigEdge is the daemon configuration's edge for e.
func (e *Edge) ConfigEdge() config.Edge {
	return config.Edge{
		Name: e.Fleet, Addresses: e.Addresses, ServerName: e.ServerName,
		AuthURL: e.AuthURL, CA: e.CAPEM, Catalogue: true,
	}
}

// ErrUntrusted says the edge's certificate does not verify: with the system
// roots, a private CA; with a fingerprint, a CA other than the pinned one.
var ErrUntrusted = errors.New("the edge's certificate is not trusted")

// Client returns an HTTP client that trusts roots (nil: the system's) and
// bounds each request.
func Client(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr.Proxy = nil
	return &http.Client{Transport: tr, Timeout: RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Discover fetches the edge's CA (when inv pins one) and metadata. hc, when
// not nil, replaces the transport's base for tests (its TLS roots are
// replaced by the pinned CA).
func Discover(ctx context.Context, inv Invite) (*Edge, error) {
	e := &Edge{}
	if inv.CA != "" {
		pemData, pool, err := fetchPinnedCA(ctx, inv)
		if err != nil {
			return nil, err
		}
		e.CAPEM, e.Roots = pemData, pool
	}
	hc := Client(e.Roots)
	var md Metadata
	if err := getJSON(ctx, hc, inv.Edge+MetadataPath, "", joinlink.MaxDocument, &md); err != nil {
		return nil, untrustedHint(err, inv)
	}
	if err := checkMetadata(&md, inv.Edge); err != nil {
		return nil, err
	}
	e.Metadata = md
	return e, nil
}

// untrustedHint turns a certificate error into what the person should do.
func untrustedHint(err error, inv Invite) error {
	var ue x509.UnknownAuthorityError
	var ve *tls.CertificateVerificationError
	if !errors.As(err, &ue) && !errors.As(err, &ve) {
		return err
	}
	if inv.CA == "" {
		return fmt.Errorf("%w: %s has a certificate the system does not trust (a private CA?): join with the invitation link your operator gave you (airlock://join?…&ca=sha256:…), or pass --ca sha256:… (`airlock-edge invite` prints it): %v", ErrUntrusted, inv.Edge, err)
	}
	return fmt.Errorf("%w: %s's certificate is not signed by the pinned CA: %v", ErrUntrusted, inv.Edge, err)
}

// fetchPinnedCA gets the CA document without verifying the connection
// (nothing is trusted yet) and accepts it only when its SPKI hash is the
// pinned one, as kubeadm does.
func fetchPinnedCA(ctx context.Context, inv Invite) (string, *x509.CertPool, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	// The answer is checked against the pin below; the connection itself
	// cannot be verified before we know the CA.
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // pinned below
	hc := &http.Client{Transport: tr, Timeout: RequestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer tr.CloseIdleConnections()
	body, err := get(ctx, hc, inv.Edge+CAPath, "", joinlink.MaxCA)
	if err != nil {
		return "", nil, fmt.Errorf("fetch the edge's CA: %w", err)
	}
	want := inv.CA
	var found []string
	rest := body
	for len(found) < 16 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return "", nil, fmt.Errorf("the edge's CA document: %w", err)
		}
		if joinlink.Fingerprint(c) == want {
			if !c.IsCA {
				return "", nil, fmt.Errorf("%w: the certificate with the pinned key is not a CA", ErrUntrusted)
			}
			pool := x509.NewCertPool()
			pool.AddCert(c)
			return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})), pool, nil
		}
		found = append(found, joinlink.Fingerprint(c))
	}
	if len(found) == 0 {
		return "", nil, fmt.Errorf("the edge's CA document (%s) holds no certificate", CAPath)
	}
	return "", nil, fmt.Errorf("%w: the edge's CA is %s, the invitation pins %s: check the link with your operator", ErrUntrusted, strings.Join(found, ", "), want)
}

// checkMetadata refuses metadata that cannot be used, naming the field.
func checkMetadata(m *Metadata, authURL string) error {
	bad := func(f string, args ...any) error {
		return fmt.Errorf("the edge's metadata (%s): %s", MetadataPath, fmt.Sprintf(f, args...))
	}
	switch {
	case m.Version != joinlink.Version:
		return bad("version %d, this airlock reads version 1", m.Version)
	case !labelRE.MatchString(m.Fleet):
		return bad("fleet %q is not a DNS label", m.Fleet)
	case len(m.Addresses) == 0:
		return bad("no addresses")
	case len(m.Addresses) > config.MaxEdgeAddresses:
		return bad("%d addresses, at most %d", len(m.Addresses), config.MaxEdgeAddresses)
	}
	for _, a := range m.Addresses {
		if err := wire.CheckTarget(a); err != nil {
			return bad("address %q: %v", a, err)
		}
	}
	if m.ServerName != "" {
		if err := wire.CheckHostname(m.ServerName); err != nil {
			return bad("server_name: %v", err)
		}
	}
	if m.AuthURL == "" {
		m.AuthURL = authURL
	}
	if strings.TrimSuffix(m.AuthURL, "/") != authURL {
		// The invitation's URL is the one the person was given; an edge
		// naming another would move sign-in somewhere else.
		return bad("auth_url %q is not the URL joined (%s)", m.AuthURL, authURL)
	}
	m.AuthURL = authURL
	if m.CatalogueEndpoint == "" {
		m.CatalogueEndpoint = authURL + CataloguePath
	}
	cu, err := url.Parse(m.CatalogueEndpoint)
	if err != nil || cu.Scheme != "https" || "https://"+cu.Host != authURL && cu.Host != strings.TrimPrefix(authURL, "https://") {
		return bad("catalogue_endpoint %q must be an https URL at %s", m.CatalogueEndpoint, authURL)
	}
	return nil
}

// getJSON GETs url (with a bearer token when set) and decodes a JSON body
// of at most limit bytes into v.
func getJSON(ctx context.Context, hc *http.Client, u, token string, limit int64, v any) error {
	body, err := get(ctx, hc, u, token, limit)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: the answer is not the expected JSON: %w", u, err)
	}
	return nil
}

// HTTPError is a non-200 answer.
type HTTPError struct {
	URL    string
	Status int
	Code   string // the JSON error's "error", when there is one
	Msg    string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("%s answered %d", e.URL, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

func get(ctx context.Context, hc *http.Client, u, token string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%s did not answer within %s: %w", u, RequestTimeout, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%s: the answer is over %d bytes", u, limit)
	}
	if resp.StatusCode != http.StatusOK {
		he := &HTTPError{URL: u, Status: resp.StatusCode}
		var eb struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &eb) == nil {
			he.Code, he.Msg = clip(eb.Error, 64), clip(eb.Description, 256)
		}
		return nil, he
	}
	return body, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
