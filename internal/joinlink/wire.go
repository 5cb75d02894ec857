package joinlink

// The documents of the edge's sign-in server that a joining daemon reads
// (their paths below, under the edge's base URL): one definition for the
// edge that writes them and the daemon that decodes them.
const (
	ConfigurationPath = "/.well-known/airlock-configuration"
	CAPath            = "/.well-known/airlock-ca.pem"
	CataloguePath     = "/api/v1/catalogue"
	ConnectPath       = "/connect"
	// Version is the version of both documents.
	Version = 1
	// MaxDocument bounds the configuration document a daemon reads;
	// MaxCatalogue the catalogue; MaxCatalogueApps its apps.
	MaxDocument      = 64 << 10
	MaxCatalogue     = 1 << 20
	MaxCatalogueApps = 1000
	// MaxCA bounds the CA PEM the edge serves.
	MaxCA = 64 << 10
)

// Configuration is the edge's public metadata (no authentication).
type Configuration struct {
	Version int `json:"version"`
	// Fleet names the fleet (the kubeconfig entries' prefix by default).
	Fleet string `json:"fleet"`
	// ServerName is the TLS server name of the QUIC listener.
	ServerName string `json:"server_name"`
	// Addresses are the UDP host:port addresses daemons dial.
	Addresses []string `json:"addresses"`
	// AuthURL is the sign-in server's base URL; Issuer its tokens' issuer.
	AuthURL           string `json:"auth_url"`
	Issuer            string `json:"issuer"`
	CatalogueEndpoint string `json:"catalogue_endpoint"`
}

// Catalogue is the apps the policy lets the bearer of an access token use
// now (GET CataloguePath with Authorization: Bearer).
type Catalogue struct {
	Version int            `json:"version"`
	Fleet   string         `json:"fleet"`
	Apps    []CatalogueApp `json:"apps"`
}

// CatalogueApp is one app of a [Catalogue].
type CatalogueApp struct {
	Hostname    string `json:"hostname"`
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	// Kubernetes is absent for an app without Kubernetes details.
	Kubernetes *CatalogueKube `json:"kubernetes,omitempty"`
}

// CatalogueKube is what kubectl needs of an app's API server. Server may
// be empty (an app with OIDC identity only): no kubeconfig entry of its
// own then.
type CatalogueKube struct {
	Server string `json:"server,omitempty"`
	// CAData is the base64 of the CA PEM (kubeconfig's
	// certificate-authority-data); empty: the system roots.
	CAData        string `json:"ca_data,omitempty"`
	TLSServerName string `json:"tls_server_name,omitempty"`
	// OIDC is present when the cluster trusts the edge as its issuer.
	OIDC *CatalogueOIDC `json:"oidc,omitempty"`
}

// CatalogueOIDC is an app's Kubernetes OIDC identity.
type CatalogueOIDC struct {
	Audience string `json:"audience"`
}

// Error is the body of a refusal: {"error":"invalid_token","error_description":"..."}.
type Error struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}
