package catalogue

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/internal/atomicfile"
	"github.com/airlockhq/airlock/internal/wire"
)

// labelRE is a DNS label: an app's and a fleet's name.
var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Catalogue is what the edge answers: the apps the person may use now.
type Catalogue struct {
	Version int    `json:"version"`
	Fleet   string `json:"fleet"`
	Apps    []App  `json:"apps"`
}

// App is one app of the catalogue.
type App struct {
	Hostname    string      `json:"hostname"`
	Name        string      `json:"name"`
	DisplayName string      `json:"display_name,omitempty"`
	Kubernetes  *Kubernetes `json:"kubernetes,omitempty"`
}

// Kubernetes is what the operator published about an app's API server.
type Kubernetes struct {
	Server string `json:"server"`
	// CAData is the base64 of the API server's CA PEM (kubeconfig's
	// certificate-authority-data).
	CAData        string `json:"ca_data,omitempty"`
	TLSServerName string `json:"tls_server_name,omitempty"`
	OIDC          *OIDC  `json:"oidc,omitempty"`
}

// OIDC says the API server trusts the edge as a JWT issuer.
type OIDC struct {
	Audience string `json:"audience"`
}

// ErrUnauthorized is a 401 from the catalogue: the token is not (or no
// longer) good.
var ErrUnauthorized = errors.New("the edge refused the access token")

// Fetch gets the catalogue at endpoint with the person's access token.
func Fetch(ctx context.Context, hc *http.Client, endpoint, token string) (*Catalogue, error) {
	var c Catalogue
	if err := getJSON(ctx, hc, endpoint, token, maxCatalogue, &c); err != nil {
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusUnauthorized {
			return nil, fmt.Errorf("%w: %v", ErrUnauthorized, err)
		}
		return nil, fmt.Errorf("fetch the catalogue: %w", err)
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Check refuses a catalogue the daemon cannot use and drops nothing
// silently: every problem names the app.
func (c *Catalogue) Check() error {
	if c.Version != 1 {
		return fmt.Errorf("the catalogue is version %d; this airlock reads version 1", c.Version)
	}
	if len(c.Apps) > maxApps {
		return fmt.Errorf("the catalogue lists %d apps, at most %d", len(c.Apps), maxApps)
	}
	names, hosts := map[string]bool{}, map[string]bool{}
	for i := range c.Apps {
		a := &c.Apps[i]
		where := fmt.Sprintf("catalogue apps[%d]", i)
		if err := wire.CheckHostname(a.Hostname); err != nil {
			return fmt.Errorf("%s: hostname %q: %v", where, a.Hostname, err)
		}
		if !labelRE.MatchString(a.Name) {
			return fmt.Errorf("%s (%s): name %q is not a DNS label", where, a.Hostname, a.Name)
		}
		if names[a.Name] || hosts[a.Hostname] {
			return fmt.Errorf("%s (%s): name or hostname listed twice", where, a.Hostname)
		}
		names[a.Name], hosts[a.Hostname] = true, true
		if len(a.DisplayName) > 200 {
			return fmt.Errorf("%s (%s): display_name is over 200 bytes", where, a.Hostname)
		}
		if k := a.Kubernetes; k != nil {
			if err := k.check(); err != nil {
				return fmt.Errorf("%s (%s): kubernetes: %w", where, a.Hostname, err)
			}
		}
	}
	return nil
}

func (k *Kubernetes) check() error {
	u, err := url.Parse(k.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(k.Server) > 512 {
		return fmt.Errorf("server %q is not an https URL", k.Server)
	}
	if k.CAData != "" {
		data, err := base64.StdEncoding.DecodeString(k.CAData)
		if err != nil {
			return fmt.Errorf("ca_data is not base64: %v", err)
		}
		if b, _ := pem.Decode(data); b == nil {
			return errors.New("ca_data holds no PEM")
		}
	}
	if k.TLSServerName != "" {
		if err := wire.CheckHostname(k.TLSServerName); err != nil {
			return fmt.Errorf("tls_server_name: %v", err)
		}
	}
	if k.OIDC != nil && (k.OIDC.Audience == "" || len(k.OIDC.Audience) > 256) {
		return errors.New("oidc.audience is empty or over 256 bytes")
	}
	return nil
}

// Cached is a catalogue as the daemon keeps it between syncs.
type Cached struct {
	Edge     string     `json:"edge"`
	Synced   time.Time  `json:"synced"`
	Apps     []App      `json:"apps"`
	Disabled []string   `json:"disabled,omitempty"` // app names the person turned off (tray toggle)
	Kube     KubeRecord `json:"kubeconfig"`
}

// KubeRecord is what the daemon did to the kubeconfig for the edge, so
// that leave gives it back.
type KubeRecord struct {
	// File is the kubeconfig file the entries were written to.
	File string `json:"file,omitempty"`
	// Created says the file did not exist before join.
	Created bool `json:"created,omitempty"`
	// CreatedDir says its folder did not exist either.
	CreatedDir bool `json:"created_dir,omitempty"`
	// CurrentContext is the current-context join set (the file had none).
	CurrentContext string `json:"current_context,omitempty"`
	// AddedKeys are the top-level keys (clusters, contexts, users) join
	// added to the file.
	AddedKeys []string `json:"added_keys,omitempty"`
}

// Store keeps cached catalogues in a folder ($XDG_STATE_HOME/airlock/catalogue).
type Store struct{ Dir string }

func (s Store) path(edge string) string { return filepath.Join(s.Dir, edge+".json") }

// Load returns edge's cached catalogue; a missing one is empty, not an
// error.
func (s Store) Load(edge string) (*Cached, error) {
	data, err := os.ReadFile(s.path(edge))
	if errors.Is(err, fs.ErrNotExist) {
		return &Cached{Edge: edge}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the cached catalogue: %w", err)
	}
	if len(data) > 2*maxCatalogue {
		return nil, fmt.Errorf("the cached catalogue %s is over %d bytes", s.path(edge), 2*maxCatalogue)
	}
	var c Cached
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("the cached catalogue %s: %w", s.path(edge), err)
	}
	c.Edge = edge
	cat := Catalogue{Version: 1, Apps: c.Apps}
	if err := cat.Check(); err != nil {
		return nil, fmt.Errorf("the cached catalogue %s: %w", s.path(edge), err)
	}
	return &c, nil
}

// Save writes c (0600).
func (s Store) Save(c *Cached) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("create the catalogue folder: %w", err)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.path(c.Edge), data, 0o600)
}

// Remove deletes edge's cached catalogue.
func (s Store) Remove(edge string) error {
	if err := os.Remove(s.path(edge)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the cached catalogue: %w", err)
	}
	return nil
}

// ClusterName is the daemon's (and kubeconfig's) name of app at edge e.
func ClusterName(e *config.Edge, app string) string { return e.Prefix() + app }

// Clusters are the configuration's clusters for c's apps at edge e: one
// sign-in cluster per app, mapping the kubeconfig entry kube names for it
// (the entry of that name, or entries with that server when mapped onto
// the person's own).
func Clusters(e *config.Edge, c *Cached, kube func(App) config.Kubeconfig) []config.Cluster {
	var out []config.Cluster
	for _, a := range c.Apps {
		cl := config.Cluster{Name: ClusterName(e, a.Name), App: a.Hostname, Edge: e.Name}
		if slices.Contains(c.Disabled, a.Name) {
			off := false
			cl.Autoconnect = &off
		}
		if a.Kubernetes != nil && kube != nil {
			cl.Kubeconfig = kube(a)
		}
		out = append(out, cl)
	}
	return out
}
