// Package apitype holds the types that travel over the daemon's control API,
// shared by the server (daemon/controlapi), the typed client
// (daemon/client), the CLI and the tray. It is a leaf: standard library only.
package apitype

import "time"

// Host is the HTTP Host the control API expects; a request naming any other
// host (other than "localhost", curl's default over a unix socket) is refused,
// which shuts out DNS-rebinding tricks.
const Host = "local-airlock.sock"

// API paths. Every path is versioned.
const (
	PathStatus = "/v1/status"
	PathEvents = "/v1/events"
	// PathClusters is the prefix of /v1/clusters/{name}/connect and
	// /v1/clusters/{name}/disconnect.
	PathClusters = "/v1/clusters/"
)

// ConnectPath returns the path that connects cluster name.
func ConnectPath(name string) string { return PathClusters + name + "/connect" }

// DisconnectPath returns the path that disconnects cluster name.
func DisconnectPath(name string) string { return PathClusters + name + "/disconnect" }

// State is a cluster's connection state.
type State string

// The states of a cluster. A cluster is disconnected until asked to
// connect (or autoconnect); connecting while its SOCKS listener comes up;
// connected once it serves; error when its listener could not be opened or
// the last stream through it failed for a reason a person must see (the
// listener then stays up, and the next good stream returns it to connected).
const (
	StateDisconnected State = "disconnected"
	StateConnecting   State = "connecting"
	StateConnected    State = "connected"
	StateError        State = "error"
)

// Problem says why a cluster is in StateError.
type Problem struct {
	// Code is a short machine-readable cause: an edge code slug such as
	// "forbidden", "no_connector", "unauthenticated", or one of
	// "edge_unreachable", "listen_failed", "token_unavailable".
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Cluster is one cluster's state as the control API reports it.
type Cluster struct {
	Name  string `json:"name"`
	App   string `json:"app"`
	Edge  string `json:"edge"`
	State State  `json:"state"`
	// Problem is set in StateError.
	Problem *Problem `json:"problem,omitempty"`
	// Listen is the SOCKS5 listener's address (host:port) once it is bound,
	// or the configured address otherwise.
	Listen string `json:"listen"`
	// ProxyURL is the full socks5://USER:PASS@HOST:PORT that kubeconfig's
	// proxy-url takes; set while the listener is up.
	ProxyURL    string    `json:"proxy_url,omitempty"`
	Autoconnect bool      `json:"autoconnect"`
	Since       time.Time `json:"since"` // when State last changed
	// KubeconfigClusters are the kubeconfig cluster names mapped to this
	// cluster in the configuration.
	KubeconfigClusters []string `json:"kubeconfig_clusters,omitempty"`
	// Kubeconfig is how the user's kubeconfig follows this cluster; nil when
	// the configuration maps no kubeconfig entry to it (the daemon then
	// leaves kubeconfig alone for this cluster).
	Kubeconfig *Kubeconfig `json:"kubeconfig,omitempty"`
}

// Kubeconfig is one cluster's side of the kubeconfig sync: while its SOCKS5
// listener is up, the daemon keeps `proxy-url` on the mapped kubeconfig
// cluster entries; when it goes down, it gives them back as they were.
type Kubeconfig struct {
	// Clusters and Servers are the mapping from the configuration: entry
	// names, and server URLs an entry's cluster.server must equal.
	Clusters []string `json:"clusters,omitempty"`
	Servers  []string `json:"servers,omitempty"`
	// Applied are the entries that carry this cluster's proxy-url now, in
	// kubeconfig precedence order.
	Applied []KubeconfigEntry `json:"applied,omitempty"`
	// Missing are mapped names and server URLs that match no entry in any
	// kubeconfig file (yet: an entry added later is picked up).
	Missing []string `json:"missing,omitempty"`
	// Problem says why the kubeconfig is not fully in line, nil when it is.
	// Its Code is one of the Kubeconfig* codes below. The daemon keeps
	// watching and retries; the problem clears once the cause is gone.
	Problem *Problem `json:"problem,omitempty"`
}

// KubeconfigEntry is one kubeconfig cluster entry in one file.
type KubeconfigEntry struct {
	File    string `json:"file"`    // as listed in $KUBECONFIG (before symlinks)
	Cluster string `json:"cluster"` // the entry's name
}

// Codes of a Kubeconfig.Problem.
const (
	KubeconfigParse        = "parse_error"   // a file is not a kubeconfig that parses; it is never written
	KubeconfigLocked       = "locked"        // another process holds FILE.lock
	KubeconfigNotWritable  = "not_writable"  // the file or its folder cannot be written
	KubeconfigUnsupported  = "unsupported"   // the entry is in a form airlock does not edit (JSON, anchors …)
	KubeconfigConflict     = "conflict"      // the entry is mapped by two airlock clusters
	KubeconfigVerify       = "verify_failed" // an edit did not verify; nothing was written
	KubeconfigEntryMissing = "entry_missing" // a mapped name or server matches no entry
	KubeconfigError        = "error"         // anything else (an I/O error)
)

// Edge is the daemon's link to one edge.
type Edge struct {
	Name      string    `json:"name"`
	Address   string    `json:"address"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since,omitzero"`  // when the live connection was made
	Error     string    `json:"error,omitempty"` // the last dial or connection error
}

// Status is the answer to GET /v1/status.
type Status struct {
	PID        int    `json:"pid"`
	Version    string `json:"version"`
	ConfigPath string `json:"config_path,omitempty"`
	// KubeconfigFiles are the kubeconfig files the daemon follows, in
	// precedence order ($KUBECONFIG, or ~/.kube/config).
	KubeconfigFiles []string  `json:"kubeconfig_files,omitempty"`
	Clusters        []Cluster `json:"clusters"`
	Edges           []Edge    `json:"edges"`
}

// FindCluster returns the cluster named name, or nil.
func (s *Status) FindCluster(name string) *Cluster {
	for i := range s.Clusters {
		if s.Clusters[i].Name == name {
			return &s.Clusters[i]
		}
	}
	return nil
}

// EventType says what an Event carries.
type EventType string

// Event types.
const (
	// EventStatus carries a full Status: the first event of every watch,
	// and again whenever the watcher fell behind and events were dropped.
	EventStatus EventType = "status"
	// EventCluster carries one cluster whose state changed.
	EventCluster EventType = "cluster"
)

// Event is one line of the GET /v1/events stream (JSON lines).
type Event struct {
	Type    EventType `json:"type"`
	Time    time.Time `json:"time"`
	Status  *Status   `json:"status,omitempty"`
	Cluster *Cluster  `json:"cluster,omitempty"`
}

// Error codes in ErrorBody.
const (
	CodeBadRequest       = "bad_request"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// ErrorBody is the one shape of every error the control API returns.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
