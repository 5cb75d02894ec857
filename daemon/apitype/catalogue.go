package apitype

import "time"

// Paths of joining an edge.
const (
	// PathJoin joins an edge (POST, body JoinRequest; answer JoinResult).
	PathJoin = "/v1/join"
	// PathSync syncs the joined edges' catalogues now (POST, body
	// SyncRequest; answer SyncResult).
	PathSync = "/v1/sync"
	// PathLeave leaves a joined edge (POST, body LeaveRequest; answer
	// LeaveResult).
	PathLeave = "/v1/leave"
)

// EventCatalogue carries a joined edge's catalogue after a sync changed
// what the person may use (Event.Catalogue).
const EventCatalogue EventType = "catalogue"

// JoinRequest is the body of POST /v1/join.
type JoinRequest struct {
	// Invite is a host name, an https URL or an airlock://join?… link.
	Invite string `json:"invite"`
	// CA is the pinned CA's fingerprint, sha256:HEX (optional).
	CA string `json:"ca,omitempty"`
	// Device signs in with the device flow (a URL and a code).
	Device bool `json:"device,omitempty"`
}

// JoinResult is the answer to POST /v1/join.
type JoinResult struct {
	Edge      string    `json:"edge"`
	Catalogue Catalogue `json:"catalogue"`
	// AlreadyJoined says the edge was joined before: this was a sync.
	AlreadyJoined bool `json:"already_joined,omitempty"`
}

// SyncRequest is the body of POST /v1/sync.
type SyncRequest struct {
	// Edge names a joined edge; empty means every joined edge.
	Edge string `json:"edge,omitempty"`
}

// SyncResult is the answer to POST /v1/sync.
type SyncResult struct {
	Catalogues []Catalogue `json:"catalogues"`
}

// LeaveRequest is the body of POST /v1/leave.
type LeaveRequest struct {
	// Edge names the joined edge; empty means the only one.
	Edge string `json:"edge,omitempty"`
}

// LeaveResult is the answer to POST /v1/leave.
type LeaveResult struct {
	Edge string `json:"edge"`
	// Removed are the kubeconfig contexts taken out.
	Removed []string `json:"removed,omitempty"`
	// Kept are kubeconfig entries the person changed, left in place.
	Kept []string `json:"kept,omitempty"`
	// SignedOut says the sign-in was ended at the edge and its tokens deleted.
	SignedOut bool `json:"signed_out"`
}

// Catalogue is a joined edge's catalogue as the daemon last synced it.
type Catalogue struct {
	Edge string `json:"edge"`
	// Synced is when the catalogue was last fetched; zero before the first.
	Synced time.Time      `json:"synced,omitzero"`
	Apps   []CatalogueApp `json:"apps"`
	// KubeconfigFile is where the entries are written.
	KubeconfigFile string `json:"kubeconfig_file,omitempty"`
	// Added and Removed are the contexts the last sync added and removed.
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
	// Kept are entries the person changed, which sync leaves alone.
	Kept []string `json:"kept,omitempty"`
	// CurrentContext is set when a sync made one of ours current (the
	// kubeconfig had none).
	CurrentContext string `json:"current_context,omitempty"`
	// Problem is why the last sync failed; the cached catalogue stays.
	Problem *Problem `json:"problem,omitempty"`
}

// CatalogueApp is one app of a catalogue.
type CatalogueApp struct {
	Name        string `json:"name"`
	Hostname    string `json:"hostname"`
	DisplayName string `json:"display_name,omitempty"`
	// Cluster is the daemon's cluster for it.
	Cluster string `json:"cluster"`
	// Context is the kubeconfig context, empty for an app without
	// Kubernetes details; MappedOnto names the person's own cluster entry
	// when the app maps onto it instead.
	Context    string `json:"context,omitempty"`
	MappedOnto string `json:"mapped_onto,omitempty"`
	// Identity says kubectl authenticates as the person (OIDC).
	Identity bool `json:"identity,omitempty"`
	// Enabled is false when the person turned the cluster off.
	Enabled bool `json:"enabled"`
}

// Catalogue problem codes.
const (
	CatalogueFetchFailed = "catalogue_fetch_failed"
	CatalogueSignIn      = "catalogue_sign_in_needed"
	CatalogueKubeconfig  = "catalogue_kubeconfig"
)
