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
}

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
	PID        int       `json:"pid"`
	Version    string    `json:"version"`
	ConfigPath string    `json:"config_path,omitempty"`
	Clusters   []Cluster `json:"clusters"`
	Edges      []Edge    `json:"edges"`
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
