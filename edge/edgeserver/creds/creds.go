// Package creds is the connector credentials file that `airlock-edge tunnel
// create` writes and airlock-connector reads: a small JSON document, mode
// 0600, holding the tunnel's id and secret and how to reach and trust the
// edge. It depends on the standard library only, so the connector can import
// it without pulling in the edge.
package creds

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Credentials is the content of a credentials file, e.g.
//
//	{
//	  "tunnel_id": "0b6f7c1e-…",
//	  "tunnel_name": "demo",
//	  "secret": "base64url of 32 random bytes",
//	  "edge_addrs": ["127.0.0.1:7844"],
//	  "edge_ca_pem": "-----BEGIN CERTIFICATE-----\n…",
//	  "server_name": "localhost"
//	}
type Credentials struct {
	TunnelID   string   `json:"tunnel_id"`
	TunnelName string   `json:"tunnel_name"`
	Secret     string   `json:"secret"`                // never log it
	EdgeAddrs  []string `json:"edge_addrs"`            // host:port (UDP) of the edges
	EdgeCAPEM  string   `json:"edge_ca_pem,omitempty"` // CA of the edge certificate; empty: system roots
	ServerName string   `json:"server_name"`           // TLS server name of the edges
}

// Load reads and validates a credentials file.
func Load(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("credentials %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("credentials %s: %w", path, err)
	}
	return &c, nil
}

// Validate reports the first missing or malformed field.
func (c *Credentials) Validate() error {
	switch {
	case c.TunnelID == "":
		return errors.New("tunnel_id is missing")
	case c.Secret == "":
		return errors.New("secret is missing")
	case len(c.EdgeAddrs) == 0:
		return errors.New("edge_addrs is empty")
	case c.ServerName == "":
		return errors.New("server_name is missing")
	}
	for i, a := range c.EdgeAddrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("edge_addrs[%d]: %q is not host:port", i, a)
		}
	}
	if c.EdgeCAPEM != "" {
		if _, err := c.CertPool(); err != nil {
			return err
		}
	}
	return nil
}

// CertPool returns the pool that verifies the edge: the CA in the file, or
// the system roots when it holds none.
func (c *Credentials) CertPool() (*x509.CertPool, error) {
	if c.EdgeCAPEM == "" {
		return x509.SystemCertPool()
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM([]byte(c.EdgeCAPEM)) {
		return nil, errors.New("edge_ca_pem holds no PEM certificate")
	}
	return p, nil
}

// Write writes the file atomically with mode 0600.
func (c *Credentials) Write(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	f, err := os.CreateTemp(dir, ".creds-*")
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}
