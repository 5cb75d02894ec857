package credentials

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/airlockhq/airlock/internal/atomicfile"
	"github.com/airlockhq/airlock/internal/wire"
)

// Credentials is what a connector needs to join a tunnel: written by
// `airlock-edge tunnel create`, read by `airlock-connector`. The edge keeps
// only a hash of Secret.
type Credentials struct {
	TunnelID   string   `json:"tunnel_id"`
	TunnelName string   `json:"tunnel_name"`
	Secret     string   `json:"secret"`
	Edges      []string `json:"edges"`       // UDP host:port of each edge
	ServerName string   `json:"server_name"` // name on the edge certificate
	CAPEM      string   `json:"ca_pem"`      // the CA that signed the edge certificate
}

// Validate checks that every field a connector needs is present and well
// formed, naming the first that is not.
func (c *Credentials) Validate() error {
	switch {
	case c.TunnelID == "":
		return errors.New("tunnel_id is missing")
	case c.Secret == "":
		return errors.New("secret is missing")
	case len(c.Edges) == 0:
		return errors.New("edges is empty")
	case c.CAPEM == "":
		return errors.New("ca_pem is missing")
	}
	for i, e := range c.Edges {
		if err := wire.CheckTarget(e); err != nil {
			return fmt.Errorf("edges[%d]: %w", i, err)
		}
	}
	if _, err := c.CAPool(); err != nil {
		return err
	}
	return nil
}

// CAPool returns the pool that verifies the edge certificate.
func (c *Credentials) CAPool() (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.CAPEM)) {
		return nil, errors.New("ca_pem holds no PEM certificate")
	}
	return pool, nil
}

// ReadCredentials reads and validates a credentials file.
func ReadCredentials(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return &c, nil
}

// WriteCredentials writes c to path with mode 0600, atomically: a reader
// sees the old file or the whole new one.
func WriteCredentials(path string, c *Credentials) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	return nil
}
