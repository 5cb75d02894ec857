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
	// PathLogin starts a sign-in (POST, body LoginRequest; answer
	// SignInList); PathLogout signs out (POST, body LogoutRequest; answer
	// SignInList).
	PathLogin  = "/v1/login"
	PathLogout = "/v1/logout"
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
	Name string `json:"name"`
	App  string `json:"app"`
	Edge string `json:"edge"`
	// EdgeAddress is the address (ip:port) of the edge of Edge's fleet
	// that carried the cluster's last stream, while its connection is up.
	EdgeAddress string `json:"edge_address,omitempty"`
	State       State  `json:"state"`
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

// KubeconfigMode is one kubeconfig file the daemon made private.
type KubeconfigMode struct {
	File string `json:"file"` // as listed in $KUBECONFIG (before symlinks)
	// From and To are the permissions before and after, in octal ("0644",
	// "0600").
	From string    `json:"from"`
	To   string    `json:"to"`
	Time time.Time `json:"time"`
}

// Edge is the daemon's link to one edge.
type Edge struct {
	Name string `json:"name"`
	// Address is the configured address, the first of Addresses.
	Address string `json:"address"`
	// Addresses are the configured addresses of the edge's fleet, when
	// there are several.
	Addresses []string `json:"addresses,omitempty"`
	// Current is the address (ip:port) whose connection carries the edge's
	// streams now; empty while none is up.
	Current string `json:"current,omitempty"`
	// Transport is the transport of that connection, "QUIC" or "TCP",
	// and TransportReason why TCP ("UDP to the edge got no answer within
	// 1.5 s; trying QUIC again in 30s").
	Transport       string    `json:"transport,omitempty"`
	TransportReason string    `json:"transport_reason,omitempty"`
	Connected       bool      `json:"connected"`
	Since           time.Time `json:"since,omitzero"`  // when the live connection was made
	Error           string    `json:"error,omitempty"` // the last dial or connection error
	// SignIn is the user's sign-in at this edge; nil when every cluster on
	// it uses a service token.
	SignIn *SignIn `json:"sign_in,omitempty"`
}

// SignInState is where a user's sign-in at one edge stands.
type SignInState string

// The sign-in states. signed_out: no token, nothing asked of the user yet
// (the first connection starts a sign-in). sign_in_needed: a sign-in
// waits for the user at URL (and UserCode for the device flow); held
// connections continue once it completes. signed_in: an access token is
// in memory and refreshed in the background.
const (
	SignInSignedOut SignInState = "signed_out"
	SignInNeeded    SignInState = "sign_in_needed"
	SignInSignedIn  SignInState = "signed_in"
)

// SignIn is the user's sign-in at one edge. It never carries a token.
type SignIn struct {
	Edge  string      `json:"edge"`
	State SignInState `json:"state"`
	// AuthURL is the edge's sign-in base URL (auth_url).
	AuthURL string `json:"auth_url"`
	// Email is the signed-in user (from the access token).
	Email string `json:"email,omitempty"`
	// Expires is when the access token in memory expires; it is renewed
	// before then while the refresh token is good.
	Expires time.Time `json:"expires,omitzero"`
	// URL is where the user signs in (sign_in_needed): the edge's
	// authorization URL, or the device flow's verification URL.
	URL string `json:"url,omitempty"`
	// UserCode is the device flow's code to enter at URL.
	UserCode string `json:"user_code,omitempty"`
	// Device says the pending sign-in is the device flow.
	Device bool `json:"device,omitempty"`
	// BrowserOpened says the daemon opened URL in a browser; when false
	// in sign_in_needed the user has to be told (the tray shows a
	// notification with URL).
	BrowserOpened bool `json:"browser_opened,omitempty"`
	// Waiting counts connections held until the sign-in completes.
	Waiting int `json:"waiting,omitempty"`
	// Problem is the last sign-in problem: its Code is one of the
	// SignIn* codes below.
	Problem *Problem `json:"problem,omitempty"`
	// IdentityChanged is set when a sign-in came back as a different user
	// than the one signed in before at this edge: a switch of accounts,
	// or another person's sign-in delivered to this daemon (login CSRF).
	// It stays until a logout.
	IdentityChanged *IdentityChange `json:"identity_changed,omitempty"`
	Since           time.Time       `json:"since"` // when State last changed
}

// IdentityChange is a sign-in that came back as another user.
type IdentityChange struct {
	From string    `json:"from"` // the user signed in before (email, else subject)
	To   string    `json:"to"`   // the user signed in now
	Time time.Time `json:"time"`
}

// Codes of a SignIn.Problem.
const (
	SignInRefused       = "refused"        // the edge (its policy or the identity provider) refused the user
	SignInRevoked       = "revoked"        // the refresh token was refused (revoked, reused or expired): sign in again
	SignInUnreachable   = "unreachable"    // the edge's sign-in endpoints did not answer
	SignInTimeout       = "timeout"        // nobody completed the sign-in in time
	SignInStoreFailed   = "store_failed"   // the refresh token could not be stored
	SignInEdgeError     = "edge_error"     // the edge answered with an error
	SignInCanceled      = "canceled"       // signed out, or a newer sign-in replaced it
	SignInBrowserFailed = "browser_failed" // the browser could not be opened
	// SignInNobody: not signed in, and no browser, notification (tray) or
	// waiting `airlock login` can reach the person: run `airlock login`.
	SignInNobody = "nobody_to_ask"
	// SignInUnavailable: the edge's sign-in server or its identity
	// provider is temporarily unavailable (error=temporarily_unavailable).
	SignInUnavailable = "unavailable"
)

// TokenStore says where the daemon keeps refresh tokens.
type TokenStore struct {
	// Kind is "keychain" (the OS keychain), "file" (a 0600 file: the
	// keychain is absent) or "memory" (the keychain is locked or slow:
	// tokens wait in memory until it answers).
	Kind string `json:"kind"`
	// Path is the fallback file (in use when Kind is "file").
	Path string `json:"path"`
	// Cause and Reason say why the file or memory is used: the
	// keychain's failure (no_session_bus, no_secret_service, locked,
	// timeout, error); Fix says what to do about it.
	Cause  string `json:"cause,omitempty"`
	Reason string `json:"reason,omitempty"`
	Fix    string `json:"fix,omitempty"`
	// Pending counts the tokens waiting in memory (Kind "memory");
	// Attempts the times the keychain was asked again meanwhile.
	Pending  int `json:"pending,omitempty"`
	Attempts int `json:"attempts,omitempty"`
	// Since is when the choice was made; Remembered says it is kept for
	// later starts in ChoicePath.
	Since      time.Time `json:"since,omitzero"`
	Remembered bool      `json:"remembered,omitempty"`
	ChoicePath string    `json:"choice_path,omitempty"`
	// Probed says the keychain was asked in this run of the daemon.
	Probed bool `json:"probed,omitempty"`
}

// LoginRequest is the body of POST /v1/login.
type LoginRequest struct {
	// Edge names the edge; empty means every edge that has sign-in
	// clusters.
	Edge string `json:"edge,omitempty"`
	// Device asks for the device authorization grant (a URL and a code
	// to enter on any device) instead of a browser on this machine; the
	// daemon also uses it when it cannot open a browser.
	Device bool `json:"device,omitempty"`
}

// LogoutRequest is the body of POST /v1/logout.
type LogoutRequest struct {
	// Edge names the edge; empty means every edge.
	Edge string `json:"edge,omitempty"`
}

// SignInList is the answer to POST /v1/login and /v1/logout: the
// sign-in state of each edge concerned.
type SignInList struct {
	SignIns []SignIn `json:"sign_ins"`
}

// Status is the answer to GET /v1/status.
type Status struct {
	PID        int    `json:"pid"`
	Version    string `json:"version"`
	ConfigPath string `json:"config_path,omitempty"`
	// KubeconfigFiles are the kubeconfig files the daemon follows, in
	// precedence order ($KUBECONFIG, or ~/.kube/config).
	KubeconfigFiles []string `json:"kubeconfig_files,omitempty"`
	// KubeconfigTightened are the kubeconfig files the daemon made private
	// in this run: each was readable by group or others when the daemon
	// wrote a proxy-url with its password into it, so the write removed
	// those permissions (0644 became 0600). Empty when none was.
	KubeconfigTightened []KubeconfigMode `json:"kubeconfig_tightened,omitempty"`
	Clusters            []Cluster        `json:"clusters"`
	Edges               []Edge           `json:"edges"`
	// TokenStore is where sign-in tokens are kept; nil when no cluster
	// uses sign-in.
	TokenStore *TokenStore `json:"token_store,omitempty"`
	// ConfigError says the configuration file changed and does not load:
	// the daemon keeps running the previous configuration. Nil while the
	// file on disk is the one in use.
	ConfigError *ConfigError `json:"config_error,omitempty"`
	// NotJoined says there is no configuration file yet: `airlock join`
	// writes it.
	NotJoined bool `json:"not_joined,omitempty"`
	// Catalogues are the joined edges' catalogues.
	Catalogues []Catalogue `json:"catalogues,omitempty"`
}

// ConfigError is a configuration file the daemon could not reload.
type ConfigError struct {
	Path string `json:"path"`
	// Message is every problem, one per line ("FILE:LINE: FIELD: …").
	Message  string          `json:"message"`
	Problems []ConfigProblem `json:"problems,omitempty"`
	Since    time.Time       `json:"since"`
}

// ConfigProblem is one problem in a configuration file.
type ConfigProblem struct {
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"` // e.g. "clusters[1].listen"
	Message string `json:"message"`
}

// FindEdge returns the edge named name, or nil.
func (s *Status) FindEdge(name string) *Edge {
	for i := range s.Edges {
		if s.Edges[i].Name == name {
			return &s.Edges[i]
		}
	}
	return nil
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
	// EventSignIn carries one edge's sign-in that changed.
	EventSignIn EventType = "sign_in"
)

// Event is one line of the GET /v1/events stream (JSON lines).
type Event struct {
	Type    EventType `json:"type"`
	Time    time.Time `json:"time"`
	Status  *Status   `json:"status,omitempty"`
	Cluster *Cluster  `json:"cluster,omitempty"`
	SignIn  *SignIn   `json:"sign_in,omitempty"`
	// Catalogue is set for EventCatalogue.
	Catalogue *Catalogue `json:"catalogue,omitempty"`
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

// CredentialPath returns the path that gives cluster name's credential
// (POST, no body; answer ClusterCredential): a token for the cluster's
// Kubernetes API server, which trusts the edge as its OIDC issuer. The
// request waits for a sign-in when there is none (the daemon's sign-in
// wait at most); an error names the cause.
func CredentialPath(name string) string { return PathClusters + name + "/credential" }

// ClusterCredential is a cluster's credential for its Kubernetes API
// server (never the token a stream carries).
type ClusterCredential struct {
	Cluster string `json:"cluster"`
	// Edge is the edge that signed it (the one whose sign-in it waited for).
	Edge    string    `json:"edge"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}
