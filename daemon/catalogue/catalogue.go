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
	"github.com/airlockhq/airlock/internal/joinlink"
	"github.com/airlockhq/airlock/internal/wire"
)

// labelRE is a DNS label: an app's and a fleet's name.
var labelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// The catalogue's types are internal/joinlink's, which the edge writes.
type (
	Catalogue  = joinlink.Catalogue
	App        = joinlink.CatalogueApp
	Kubernetes = joinlink.CatalogueKube
	OIDC       = joinlink.CatalogueOIDC
)

// ErrUnauthorized is a 401 from the catalogue: the token is not (or no
// longer) good.
var ErrUnauthorized = errors.New("the edge refused the access token")

// Fetch gets the catalogue at endpoint with the person's access token.
func Fetch(ctx context.Context, hc *http.Client, endpoint, token string) (*Catalogue, error) {
	var c Catalogue
	if err := getJSON(ctx, hc, endpoint, token, joinlink.MaxCatalogue, &c); err != nil {
		var he *HTTPError
		if errors.As(err, &he) && he.Status == http.StatusUnauthorized {
			return nil, fmt.Errorf("%w: %v", ErrUnauthorized, err)
		}
		return nil, fmt.Errorf("fetch the catalogue: %w", err)
	}
	if err := Check(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Check refuses a catalogue the daemon cannot use and drops nothing
// silently: every problem names the app.
func Check(c *Catalogue) error {
	if c.Version != joinlink.Version {
		return fmt.Errorf("the catalogue is version %d; this airlock reads version 1", c.Version)
	}
	if len(c.Apps) > joinlink.MaxCatalogueApps {
		return fmt.Errorf("the catalogue lists %d apps, at most %d", len(c.Apps), joinlink.MaxCatalogueApps)
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
			if err := checkKube(k); err != nil {
				return fmt.Errorf("%s (%s): kubernetes: %w", where, a.Hostname, err)
			}
		}
	}
	return nil
}

func checkKube(k *Kubernetes) error {
	if k.Server != "" {
		u, err := url.Parse(k.Server)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || len(k.Server) > 512 {
			return fmt.Errorf("server %q is not an https URL", k.Server)
		}
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
	// Mapped are the clusters mapped onto the person's own kubeconfig
	// cluster entry (same server, no identity from us): name -> entry.
	Mapped map[string]string `json:"mapped,omitempty"`
	// ConfigDirs are the folders join created for the configuration
	// file, innermost first: leave removes them when they are empty.
	ConfigDirs []string `json:"config_dirs,omitempty"`
}

// KubeRecord is what the daemon did to the kubeconfig for the edge, so
// that leave gives it back (daemon/kubeconfig.ManagedState, kept here as
// this package links no kubeconfig editing).
type KubeRecord struct {
	File       string            `json:"file,omitempty"`
	Created    bool              `json:"created,omitempty"`
	CreatedDir bool              `json:"created_dir,omitempty"`
	Current    string            `json:"current_context,omitempty"`
	CurrentSrc *string           `json:"current_src,omitempty"`
	Keys       map[string]string `json:"keys,omitempty"`
	AddedEOL   bool              `json:"added_eol,omitempty"`
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
	if len(data) > 2*joinlink.MaxCatalogue {
		return nil, fmt.Errorf("the cached catalogue %s is over %d bytes", s.path(edge), 2*joinlink.MaxCatalogue)
	}
	var c Cached
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("the cached catalogue %s: %w", s.path(edge), err)
	}
	c.Edge = edge
	cat := Catalogue{Version: 1, Apps: c.Apps}
	if err := Check(&cat); err != nil {
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

// defaultListens is how many of a catalogue's clusters get the default
// listen addresses (127.0.0.2:1080, .3, …); the rest, and the person's own
// clusters need some too, listen on a free port of 127.0.0.1.
const defaultListens = 200

// ClusterName is the daemon's (and kubeconfig's) name of app at edge e.
func ClusterName(e *config.Edge, app string) string { return e.Prefix() + app }

// Clusters are the configuration's clusters for c's apps at edge e: one
// sign-in cluster per app, mapping the kubeconfig entry kube names for it
// (the entry of that name, or entries with that server when mapped onto
// the person's own).
func Clusters(e *config.Edge, c *Cached, kube func(App) config.Kubeconfig) []config.Cluster {
	var out []config.Cluster
	for i, a := range c.Apps {
		cl := config.Cluster{Name: ClusterName(e, a.Name), App: a.Hostname, Edge: e.Name}
		if i >= defaultListens {
			// 127.0.0.2-254 run out: any free port on 127.0.0.1.
			cl.Listen = "127.0.0.1:0"
		}
		if slices.Contains(c.Disabled, a.Name) {
			off := false
			cl.Autoconnect = &off
		}
		if a.Kubernetes != nil && a.Kubernetes.Server != "" && kube != nil {
			cl.Kubeconfig = kube(a)
		}
		out = append(out, cl)
	}
	return out
}
