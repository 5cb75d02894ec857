package edge

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/airlockhq/airlock/internal/atomicfile"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// File names in a state folder.
const (
	ConfigFile = "config.yaml"
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
	CertFile   = "edge.crt"
	KeyFile    = "edge.key"
	TunnelsDir = "tunnels"
	// ResetKeyFile holds the secret the QUIC stateless reset key is
	// derived from (see [Server]); serving creates it when missing.
	ResetKeyFile = "reset.key"
)

// InitOptions tune [Init]. The zero value makes a loopback edge.
type InitOptions struct {
	// Hostnames are extra DNS names or IP addresses for the edge
	// certificate, besides 127.0.0.1, ::1 and localhost. The first one
	// becomes tls.server_name.
	Hostnames []string
	// Listen, AdminListen and HTTPListen go into the config (defaults
	// DefaultListen, DefaultAdminListen, and port 7843 on Listen's host
	// when that is loopback, else DefaultHTTPListen).
	Listen, AdminListen, HTTPListen string
	// Issuer is tokens.issuer (default "airlock-edge").
	Issuer string
	// Force overwrites an existing state.
	Force bool
}

// Init creates a state folder in dir: a local CA, the edge certificate, an
// Ed25519 signing key and a starter config (see the package comment). It
// refuses to overwrite an existing state unless opts.Force. It returns the
// path of the config file.
func Init(dir string, opts InitOptions) (string, error) {
	if dir == "" {
		return "", errors.New("init: no state folder given")
	}
	for _, h := range opts.Hostnames {
		if net.ParseIP(h) == nil {
			if err := wire.CheckHostname(h); err != nil {
				return "", fmt.Errorf("init: --hostname: %w", err)
			}
		}
	}
	if !opts.Force {
		for _, f := range []string{ConfigFile, CAKeyFile, KeyFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return "", fmt.Errorf("init: %s already holds an edge state (%s); pass --force to overwrite it", dir, f)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}

	caCert, caKey, err := newCA(time.Now())
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	certPEM, keyPEM, err := newEdgeCert(caCert, caKey, opts.Hostnames, time.Now())
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	caKeyPEM, err := marshalECKey(caKey)
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	kid, signKey, err := token.GenerateKey()
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	signPEM, err := token.MarshalPrivateKey(signKey)
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	signFile := "signing-" + kid + ".pem"

	serverName := DefaultServerName
	if len(opts.Hostnames) > 0 {
		serverName = opts.Hostnames[0]
	}
	vals := starterValues{
		Listen: opts.Listen, AdminListen: opts.AdminListen, HTTPListen: opts.HTTPListen, ServerName: serverName,
		Issuer: opts.Issuer, KeyID: kid, KeyFile: signFile,
	}
	if vals.Listen == "" {
		vals.Listen = DefaultListen
	}
	if vals.AdminListen == "" {
		vals.AdminListen = DefaultAdminListen
	}
	if vals.HTTPListen == "" {
		vals.HTTPListen = defaultHTTPListen(vals.Listen)
	}
	if vals.Issuer == "" {
		vals.Issuer = "airlock-edge"
	}
	var cfg bytes.Buffer
	if err := starterConfig.Execute(&cfg, vals); err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if _, err := ParseConfig(cfg.Bytes(), dir); err != nil {
		return "", fmt.Errorf("init: the starter config does not validate (a bug): %w", err)
	}

	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{CACertFile, pemCert(caCert.Raw), 0o644},
		{CAKeyFile, caKeyPEM, 0o600},
		{CertFile, certPEM, 0o644},
		{KeyFile, keyPEM, 0o600},
		{signFile, signPEM, 0o600},
		{ResetKeyFile, newResetSecret(), 0o600},
		{ConfigFile, cfg.Bytes(), 0o600}, // last: its presence marks a complete state
	}
	for _, f := range files {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return "", fmt.Errorf("init: %w", err)
		}
	}
	return filepath.Join(dir, ConfigFile), nil
}

type starterValues struct {
	Listen, AdminListen, HTTPListen, ServerName, Issuer, KeyID, KeyFile string
}

var starterConfig = template.Must(template.New("config").Parse(`# airlock-edge configuration. Relative paths are relative to this file.
# Reference: go doc github.com/airlockhq/airlock/edge Config

# UDP address of the QUIC listener that daemons and connectors dial.
listen: {{printf "%q" .Listen}}
# /metrics and /healthz; keep it on loopback ("off" turns it off).
admin_listen: {{printf "%q" .AdminListen}}
# HTTPS sign-in server (OAuth 2.0 for the daemons, login pages, JWKS),
# served with the edge certificate; keep it on loopback or behind a proxy
# ("off" turns sign-in off).
http_listen: {{printf "%q" .HTTPListen}}
# The base URL people's browsers and daemons use for sign-in.
# public_url: "https://edge.example.com:7843"
# Refresh token families and device codes (hashes only).
store_file: signin.db
# Addresses written into connector credentials (default: listen), and
# that daemons joining this edge dial (default: the fleet's advertise:
# addresses, else the public_url host with the listen port).
# public_addrs: ["edge.example.com:7844"]
# The name people who join (airlock join) see, their kubeconfig entries'
# prefix (default: tls.server_name).
# fleet_name: prod
# In a fleet (store:), the address of this edge that connectors dial,
# told to them by every edge of the fleet (default: the first public_addrs).
# advertise: "edge-1.example.com:7844"
# How long open streams may finish after SIGTERM.
shutdown_grace: 5s

tls:
  cert_file: edge.crt
  key_file: edge.key
  # The CA connectors and daemons trust for this edge.
  ca_file: ca.crt
  server_name: {{printf "%q" .ServerName}}

tokens:
  issuer: {{printf "%q" .Issuer}}
  # The first key signs, all verify. Rotate by adding a new key first.
  signing_keys:
    - id: {{printf "%q" .KeyID}}
      file: {{printf "%q" .KeyFile}}
  # Access tokens from sign-in: 1m to 1h. Refresh tokens rotate on use.
  access_ttl: 15m
  refresh_ttl: 720h
  service_ttl: 24h
  max_service_ttl: 2160h
  leeway: 30s

# audit:
#   file: audit.log   # one JSON line per stream; default stderr

# Who may sign in. The built-in user list ("airlock-edge user add EMAIL"
# writes the bcrypt hash):
# users:
#   - email: alice@example.com
#     password_hash: "$2a$10$..."
#     groups: [sre]
# and/or upstream OpenID Connect providers; register
# PUBLIC_URL/oauth/callback as the redirect URI at each (the edge logs it
# at start, and checks each provider at start and on reload):
# oidc_providers:
#   - name: corp
#     display_name: Corp SSO     # the sign-in button
#     issuer: https://login.example.com
#     client_id: airlock-edge
#     client_secret_file: oidc-secret   # or client_secret: "..."
#     # ca_file: idp-ca.pem      # a private provider's CA
#     # scopes: [offline_access] # added to openid email profile (and groups)
#     # auth_params: {prompt: login, max_age: "3600"}
#     email_claim: email
#     groups_claim: groups
# "airlock-edge user revoke EMAIL" adds entries that refuse a user's
# tokens issued before a time:
# revocations: []

# Apps users open, and who may. "airlock-edge tunnel create" adds entries.
# - hostname: k8s.example.com
#   tunnel: prod
#   policy:
#     allow:
#       emails: [alice@example.com]
#       email_domains: [example.com]
#       groups: [sre]
#     deny:
#       emails: [mallory@example.com]
apps: []

# Connectors' identities; the edge keeps only the sha256 of each secret.
tunnels: []

# Service tokens "airlock-edge token mint" made: id, app, email, expiry
# (never the token). "token revoke ID", "user revoke" and "user remove"
# mark them revoked and the edge refuses them on their next stream; the
# entries of expired tokens are dropped.
service_tokens: []
`))

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Airlock edge local CA", Organization: []string{"Airlock"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func newEdgeCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, hostnames []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate edge key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "airlock-edge", Organization: []string{"Airlock"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hostnames {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if !strings.EqualFold(h, "localhost") {
			tmpl.DNSNames = append(tmpl.DNSNames, strings.ToLower(h))
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("create edge certificate: %w", err)
	}
	keyPEM, err = marshalECKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemCert(der), keyPEM, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func marshalECKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
