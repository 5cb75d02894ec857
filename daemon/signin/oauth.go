package signin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/airlockhq/airlock/daemon/config"
	"golang.org/x/oauth2"
)

// ClientID is the daemon's OAuth 2.0 client id at every edge: a public
// client (no secret), PKCE required.
const ClientID = "airlock"

// MetadataPath is where an edge publishes its authorization server
// metadata (RFC 8414).
const MetadataPath = "/.well-known/oauth-authorization-server"

// maxResponse bounds what is read from the edge's OAuth endpoints.
const maxResponse = 1 << 20

// metadata is the part of RFC 8414 metadata the daemon uses.
type metadata struct {
	Issuer                      string `json:"issuer"`
	AuthorizationEndpoint       string `json:"authorization_endpoint"`
	TokenEndpoint               string `json:"token_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
	RevocationEndpoint          string `json:"revocation_endpoint"`
	JWKSURI                     string `json:"jwks_uri"`
}

// parseMetadata decodes and checks an edge's metadata: the authorization
// and token endpoints are required, and every endpoint is https.
func parseMetadata(data []byte) (*metadata, error) {
	var m metadata
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("metadata is not JSON: %w", err)
	}
	if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
		return nil, errors.New("metadata lacks authorization_endpoint or token_endpoint")
	}
	for name, v := range map[string]string{
		"authorization_endpoint":        m.AuthorizationEndpoint,
		"token_endpoint":                m.TokenEndpoint,
		"device_authorization_endpoint": m.DeviceAuthorizationEndpoint,
		"revocation_endpoint":           m.RevocationEndpoint,
	} {
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("metadata %s %q is not an https URL", name, v)
		}
	}
	return &m, nil
}

// HTTPClient returns the client the daemon talks to an edge's sign-in
// endpoints with: TLS verified against the edge's CA (the one its QUIC
// listener uses), the edge's server_name when auth_url is the default (same
// host as the QUIC address), no proxy from the environment, bounded.
func HTTPClient(e config.Edge) *http.Client {
	tc := &tls.Config{RootCAs: e.RootCAs, MinVersion: tls.VersionTLS12}
	if e.ServerName != "" && sameHost(e.AuthURL, e.Address) {
		tc.ServerName = e.ServerName
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if name, host := e.ServerName, addressHost(e.Address); name != "" && host != "" && !strings.EqualFold(name, host) {
		// The edge's metadata names URLs on its public_url, by default
		// https://SERVER_NAME:PORT, a name this machine may not resolve:
		// reach that name where the configuration says the edge is.
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if h, port, err := net.SplitHostPort(addr); err == nil && strings.EqualFold(h, name) {
				addr = net.JoinHostPort(host, port)
			}
			return dialer.DialContext(ctx, network, addr)
		}
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // the OAuth endpoints answer directly
		},
	}
}

func addressHost(address string) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return ""
	}
	return host
}

func sameHost(authURL, address string) bool {
	u, err := url.Parse(authURL)
	if err != nil {
		return false
	}
	host, _, err := net.SplitHostPort(address)
	return err == nil && strings.EqualFold(u.Hostname(), host)
}

// fetchMetadata GETs the edge's metadata.
func fetchMetadata(ctx context.Context, hc *http.Client, authURL string) (*metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL+MetadataPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s answered %s", MetadataPath, resp.Status)
	}
	return parseMetadata(data)
}

// oauthConfig is the x/oauth2 client configuration for an edge.
func oauthConfig(m *metadata, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    ClientID,
		RedirectURL: redirect,
		Endpoint: oauth2.Endpoint{
			AuthURL:       m.AuthorizationEndpoint,
			TokenURL:      m.TokenEndpoint,
			DeviceAuthURL: m.DeviceAuthorizationEndpoint,
			AuthStyle:     oauth2.AuthStyleInParams,
		},
	}
}

// OAuthError is an error response of the edge's token endpoint (RFC 6749
// 5.2) or of its authorization redirect (4.1.2.1).
type OAuthError struct {
	Code        string // invalid_grant, access_denied, …
	Description string
	Status      int // HTTP status, 0 for a redirect
}

func (e *OAuthError) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Description)
	}
	return e.Code
}

// tokenResponse is a successful token endpoint answer (RFC 6749 5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// parseTokenResponse decodes a token endpoint answer: a token on 200, an
// *OAuthError otherwise.
func parseTokenResponse(status int, contentType string, data []byte) (*oauth2.Token, error) {
	if status != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, &OAuthError{Code: e.Error, Description: e.Description, Status: status}
		}
		return nil, fmt.Errorf("token endpoint answered HTTP %d", status)
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "" && mt != "application/json" {
		return nil, fmt.Errorf("token endpoint answered %s, not JSON", mt)
	}
	var r tokenResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("token endpoint answer is not JSON: %w", err)
	}
	if r.AccessToken == "" {
		return nil, errors.New("token endpoint answer has no access_token")
	}
	if r.TokenType != "" && !strings.EqualFold(r.TokenType, "bearer") {
		return nil, fmt.Errorf("token endpoint issued a %q token, not a bearer token", r.TokenType)
	}
	t := &oauth2.Token{AccessToken: r.AccessToken, TokenType: r.TokenType, RefreshToken: r.RefreshToken, ExpiresIn: r.ExpiresIn}
	if r.ExpiresIn > 0 {
		t.Expiry = time.Now().Add(time.Duration(r.ExpiresIn) * time.Second)
	}
	return t, nil
}

// postForm POSTs form to endpoint and returns the status, content type
// and body.
func postForm(ctx context.Context, hc *http.Client, endpoint string, form url.Values) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", nil, redact(err, form)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, "", nil, err
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), data, nil
}

// redact keeps form values (tokens) out of an error: url.Error carries
// only the endpoint, but be sure.
func redact(err error, form url.Values) error {
	s := err.Error()
	for _, k := range []string{"refresh_token", "token", "code", "code_verifier", "subject_token"} {
		if v := form.Get(k); v != "" {
			s = strings.ReplaceAll(s, v, "[redacted]")
		}
	}
	if s == err.Error() {
		return err
	}
	return errors.New(s)
}

// refreshGrant redeems a refresh token (RFC 6749 6).
func refreshGrant(ctx context.Context, hc *http.Client, m *metadata, refresh string, audience []string) (*oauth2.Token, error) {
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refresh},
		"client_id":     {ClientID},
	}
	if len(audience) > 0 {
		form.Set("audience", strings.Join(audience, " "))
	}
	status, ct, data, err := postForm(ctx, hc, m.TokenEndpoint, form)
	if err != nil {
		return nil, err
	}
	return parseTokenResponse(status, ct, data)
}

// exchangeGrant narrows the access token subject to app (RFC 8693 token
// exchange; x/oauth2 has no helper for it). The answer is bounded and
// parsed as every token endpoint answer is.
func exchangeGrant(ctx context.Context, hc *http.Client, m *metadata, subject, app string) (*oauth2.Token, error) {
	status, ct, data, err := postForm(ctx, hc, m.TokenEndpoint, exchangeForm(subject, app))
	if err != nil {
		return nil, err
	}
	return parseTokenResponse(status, ct, data)
}

// revoke asks the edge to revoke a refresh token (RFC 7009).
func revoke(ctx context.Context, hc *http.Client, m *metadata, refresh string) error {
	if m.RevocationEndpoint == "" {
		return errors.New("the edge has no revocation endpoint")
	}
	form := url.Values{
		"token":           {refresh},
		"token_type_hint": {"refresh_token"},
		"client_id":       {ClientID},
	}
	status, _, data, err := postForm(ctx, hc, m.RevocationEndpoint, form)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		if _, err := parseTokenResponse(status, "", data); err != nil {
			return err
		}
	}
	return nil
}

// oauthCode returns the OAuth error code in err: an *OAuthError's or an
// x/oauth2 *RetrieveError's.
func oauthCode(err error) (code, desc string) {
	var oe *OAuthError
	if errors.As(err, &oe) {
		return oe.Code, oe.Description
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode, re.ErrorDescription
	}
	return "", ""
}

// cleanRetrieveError drops x/oauth2's copy of the response body from an
// error: it is no secret on an error response, but keep logs short.
func cleanRetrieveError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return &OAuthError{Code: re.ErrorCode, Description: re.ErrorDescription}
		}
		if re.Response != nil {
			return fmt.Errorf("token endpoint answered %s", re.Response.Status)
		}
	}
	return err
}
