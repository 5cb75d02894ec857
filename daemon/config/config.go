// Package config reads and validates the daemon's YAML configuration
// ($XDG_CONFIG_HOME/airlock/config.yaml): the edges it dials and the clusters
// it serves, one SOCKS5 listener each. Every error names the file, the line
// and the field at fault.
//
// An example:
//
//	edges:
//	  - name: main
//	    address: edge.example.com:7844   # UDP; a name may resolve to several edges
//	    # or a fleet, any of which carries every cluster:
//	    # addresses: [edge-a.example.com:7844, edge-b.example.com:7844]
//	    ca: /etc/airlock/edge-ca.pem     # a file, or the PEM inline; omit for the system roots
//	    server_name: edge.example.com    # default: the host of address
//	    auth_url: https://edge.example.com:7843  # sign-in (OAuth 2.0); default https://<host of address>:7843
//	    catalogue: true                  # written by `airlock join`: the clusters come from the edge's catalogue
//	    kubeconfig_prefix: example-      # names of the catalogue's kubeconfig entries (default: edge name + "-")
//	    transport: auto                  # QUIC, and TLS on TCP (same port) where UDP gets no answer; or quic, tcp
//	    quic_retry: 30s                  # how long a network that needed TCP stays on it before QUIC is tried again
//	clusters:
//	  - name: prod
//	    app: k8s.prod.example.com        # the app hostname the edge routes
//	    edge: main                       # optional when there is one edge
//	    listen: 127.0.0.2:1080           # optional: 127.0.0.2:1080, .3, … in order
//	    token_file: prod.token           # or token: …; relative to this file; neither: sign in at the edge
//	    autoconnect: true                # default true
//	    kubeconfig:                      # the kubeconfig entries this cluster serves
//	      clusters: [prod-eks]           # by cluster entry name
//	      servers: [https://10.0.0.1:6443] # and/or by the entry's server URL, exactly
//
// A cluster with neither token nor token_file uses sign-in: the daemon signs
// the user in at its edge's auth_url (browser or device flow) when the first
// connection needs a token. Optional top-level fields tune it:
//
//	browser: firefox --new-window    # the command that opens sign-in URLs (default $BROWSER, xdg-open …)
//	sign_in:
//	  wait: 2m                       # how long a connection is held while the user signs in
//	  browser_interval: 5m           # the browser opens at most this often per edge; otherwise a notification
//
// While a cluster's SOCKS5 listener is up, the daemon sets `proxy-url` on
// the kubeconfig cluster entries its `kubeconfig:` block maps and gives them
// back on disconnect (see daemon/kubeconfig). A cluster without a
// `kubeconfig:` block maps nothing: the daemon leaves the kubeconfig alone
// for it, and `airlock status` shows its proxy-url for the user to use by
// hand. An entry name or server URL may be mapped by one cluster only.
package config

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Config is the whole configuration. Build one with [Load] or [Parse], or
// fill it in code and call [Config.Validate].
type Config struct {
	// Path is the file the configuration came from; relative paths in it
	// are resolved against its folder. Empty when built in code.
	Path     string
	Edges    []Edge
	Clusters []Cluster
	// Browser is the command that opens sign-in URLs ("browser:"); empty
	// means $BROWSER, then the platform's opener.
	Browser string
	// SignIn tunes sign-in ("sign_in:").
	SignIn    SignIn
	rootLines map[string]int
	// notJoined: the file does not exist yet; the daemon waits for
	// `airlock join` (see NotJoined).
	notJoined bool
}

// NotJoined is the configuration of a daemon whose file at path does not
// exist yet: no edges, no clusters, until `airlock join` writes it.
func NotJoined(path string) *Config { return &Config{Path: path, notJoined: true} }

// IsNotJoined reports whether c is a NotJoined configuration.
func (c *Config) IsNotJoined() bool { return c.notJoined }

// HasCatalogue reports whether an edge takes its clusters from its
// catalogue.
func (c *Config) HasCatalogue() bool {
	for _, e := range c.Edges {
		if e.Catalogue {
			return true
		}
	}
	return false
}

// Prefix is the prefix of a catalogue edge's kubeconfig entry names.
func (e *Edge) Prefix() string {
	if e.KubeconfigPrefix != "" {
		return e.KubeconfigPrefix
	}
	return e.Name + "-"
}

// Edge is one edge the daemon dials.
type Edge struct {
	Name string
	// Address is the edge's UDP address, host:port: the first of Addresses
	// (Validate sets it from them).
	Address string
	// Addresses are the UDP addresses of the edges of one fleet, host:port
	// each, any of which carries every cluster; a name may resolve to
	// several addresses, each dialled in turn. Validate fills it with
	// Address when only that is set ("address:"). One sign-in covers them
	// all: the fleet shares its sign-in server and keys.
	Addresses []string
	// CA is a PEM file's path or the PEM itself ("-----BEGIN …"); empty
	// means the system's roots.
	CA string
	// ServerName is the name the edge's certificate must carry; empty means
	// the host of Address.
	ServerName string
	// AuthURL is the edge's HTTPS base URL for sign-in (its OAuth 2.0
	// authorization server); Validate fills in https://<host of
	// Address>:7843 when empty.
	AuthURL string
	// Catalogue says the edge's clusters come from its catalogue (written
	// by `airlock join`, "catalogue: true"): the apps the person may use,
	// fetched after sign-in and cached in the state folder (see
	// daemon/catalogue), not from clusters: in this file.
	Catalogue bool
	// KubeconfigPrefix names a catalogue edge's kubeconfig entries
	// (prefix + app name); empty means "<edge name>-".
	KubeconfigPrefix string
	// Transport is "auto" (the default, also ""): QUIC, and TLS on TCP
	// (the same port) where UDP to the edge gets no answer; "quic" or
	// "tcp" pins one. QUICRetry is how long a network that needed TCP
	// stays on it before QUIC is tried again (default 30s, at least 1s).
	Transport string
	QUICRetry time.Duration

	// RootCAs is CA parsed, set by Validate; nil means the system's roots.
	RootCAs *x509.CertPool
	// Line is where the edge starts in the file, 0 when built in code.
	Line     int
	lines    map[string]int // each field's line
	fromList bool           // the file gave addresses:, not address:
}

// Cluster is one cluster: an app behind an edge, served on a local SOCKS5
// listener.
type Cluster struct {
	Name string
	// App is the app's hostname at the edge.
	App string
	// Edge names the edge; Validate fills it in when there is one edge.
	Edge string
	// Listen is the SOCKS5 listener's loopback address. Validate fills in
	// 127.0.0.2:1080, 127.0.0.3:1080, … for clusters that leave it empty.
	Listen string
	// ListenFallback is set by Validate for a default Listen: the
	// distinct port on 127.0.0.1 to use where 127.0.0.N cannot be bound
	// (macOS has no extra loopback addresses).
	ListenFallback string
	// Token is a service token; TokenFile a file holding one (re-read when
	// it changes). Exactly one is set.
	Token     string
	TokenFile string
	// Autoconnect says whether the daemon connects this cluster when it
	// starts. Nil means true.
	Autoconnect *bool
	// Kubeconfig names the kubeconfig entries the daemon points at this
	// cluster's listener; empty maps none.
	Kubeconfig Kubeconfig

	// Line is where the cluster starts in the file, 0 when built in code.
	Line  int
	lines map[string]int // each field's line
}

// AutoconnectEnabled reports whether the cluster connects when the daemon
// starts.
func (c *Cluster) AutoconnectEnabled() bool { return c.Autoconnect == nil || *c.Autoconnect }

// Kubeconfig says which kubeconfig entries belong to a cluster.
type Kubeconfig struct {
	// Clusters are kubeconfig cluster names.
	Clusters []string
	// Servers are API server URLs; kubeconfig clusters whose server is
	// one of them belong to this cluster too.
	Servers []string
	Line    int
}

// Cluster returns the cluster named name, or nil.
func (c *Config) Cluster(name string) *Cluster {
	for i := range c.Clusters {
		if c.Clusters[i].Name == name {
			return &c.Clusters[i]
		}
	}
	return nil
}

// Edge returns the edge named name, or nil.
func (c *Config) Edge(name string) *Edge {
	for i := range c.Edges {
		if c.Edges[i].Name == name {
			return &c.Edges[i]
		}
	}
	return nil
}

// DefaultPath returns $XDG_CONFIG_HOME/airlock/config.yaml, or
// ~/.config/airlock/config.yaml when XDG_CONFIG_HOME is unset. getenv is
// os.Getenv in production.
func DefaultPath(getenv func(string) string) (string, error) {
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "airlock", "config.yaml"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", fmt.Errorf("neither XDG_CONFIG_HOME nor HOME is set: pass --config")
	}
	return filepath.Join(home, ".config", "airlock", "config.yaml"), nil
}

// Load reads, parses and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}
