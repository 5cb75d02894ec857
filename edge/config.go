package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/wire"
)

// Defaults of [Config].
const (
	DefaultListen        = "127.0.0.1:7844"
	DefaultAdminListen   = "127.0.0.1:7845"
	DefaultServerName    = "localhost"
	DefaultAccessTTL     = 15 * time.Minute
	DefaultServiceTTL    = 24 * time.Hour
	DefaultMaxServiceTTL = 90 * 24 * time.Hour
	DefaultShutdownGrace = 5 * time.Second
	// AdminOff as admin_listen turns the admin listener off.
	AdminOff = "off"
)

// Config is the edge's configuration file (YAML). Unknown fields are errors,
// so a typo never silently turns a rule off.
type Config struct {
	// Listen is the UDP address of the QUIC listener (default 127.0.0.1:7844).
	Listen string `yaml:"listen,omitempty"`
	// TCPListen is the TCP address of the same protocol over TLS on TCP,
	// for daemons and connectors whose network drops UDP (default: the
	// host and port of Listen, on TCP; "off" for none).
	TCPListen string `yaml:"tcp_listen,omitempty"`
	// AdminListen is the TCP address of /metrics and /healthz (default
	// 127.0.0.1:7845; loopback unless set otherwise; "off" for none).
	AdminListen string `yaml:"admin_listen,omitempty"`
	// AdminHosts are the host names the admin listener answers to besides
	// IP literals and localhost; a request with any other Host gets 421
	// (DNS rebinding).
	AdminHosts []string `yaml:"admin_hosts,omitempty"`
	// PublicAddrs are the host:port addresses connectors and daemons dial,
	// written into connector credentials (default: Listen) and, when set,
	// into the public metadata daemons join with (see join.go).
	PublicAddrs []string `yaml:"public_addrs,omitempty"`
	// FleetName names this edge's fleet to the people who join it: their
	// kubeconfig entries are called after it (default: tls.server_name).
	FleetName string `yaml:"fleet_name,omitempty"`
	// EdgeID names this edge process in logs (default: generated).
	EdgeID string `yaml:"edge_id,omitempty"`
	// Advertise is the host:port connectors dial to reach this edge, told
	// to them as a member of the fleet (default: the first of
	// PublicAddrs).
	Advertise string `yaml:"advertise,omitempty"`
	// ShutdownGrace is how long open streams may run after shutdown starts
	// (default 5s).
	ShutdownGrace Duration `yaml:"shutdown_grace,omitempty"`
	// Limits bound what peers that have not authenticated can make the
	// edge hold (see limits.go for each default).
	Limits Limits `yaml:"limits,omitempty"`

	TLS     TLSConfig   `yaml:"tls"`
	Tokens  TokenConfig `yaml:"tokens"`
	Audit   AuditConfig `yaml:"audit,omitempty"`
	Apps    []App       `yaml:"apps"`
	Tunnels []Tunnel    `yaml:"tunnels"`

	// Sign-in (see signin.go and package oauth).

	// HTTPListen is the TCP address of the HTTPS sign-in server (OAuth
	// 2.0 authorization server, login pages, JWKS); default: port 7843 on
	// the host of Listen when that is a loopback address, else
	// 127.0.0.1:7843; "off" for none.
	HTTPListen string `yaml:"http_listen,omitempty"`
	// PublicURL is the base URL people and daemons use for sign-in, the
	// "issuer" of its metadata (default https://TLS.SERVER_NAME:PORT).
	PublicURL string `yaml:"public_url,omitempty"`
	// StoreFile is the embedded store of refresh token families and
	// device codes (default signin.db beside the config; none with Store).
	StoreFile string `yaml:"store_file,omitempty"`
	// Store, when set, is the PostgreSQL database a fleet of edges shares
	// instead of the embedded store_file (see store.go).
	Store *StoreConfig `yaml:"store,omitempty"`
	// Users is the built-in user list (bcrypt hashes).
	Users []oauth.User `yaml:"users,omitempty"`
	// OIDC is the single upstream OpenID Connect provider, named "oidc"
	// (the form before oidc_providers; at most one of the two).
	OIDC *oauth.OIDCConfig `yaml:"oidc,omitempty"`
	// OIDCProviders are the upstream OpenID Connect providers, each with
	// a name (see signin.go).
	OIDCProviders []oauth.OIDCConfig `yaml:"oidc_providers,omitempty"`
	// Revocations refuse a user's tokens issued before a time.
	Revocations []oauth.Revocation `yaml:"revocations,omitempty"`
	// ServiceTokens are the records of minted service tokens.
	ServiceTokens []ServiceToken `yaml:"service_tokens,omitempty"`

	dir string // the folder relative paths resolve against
	// publicAddrsSet: the file sets public_addrs (not the default).
	publicAddrsSet bool
}

// TLSConfig names the edge's certificate files.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile is the CA that connectors and daemons trust for this edge;
	// its PEM is written into connector credentials. Empty: the system roots.
	CAFile string `yaml:"ca_file,omitempty"`
	// ServerName is the TLS server name dialers use (default "localhost").
	ServerName string `yaml:"server_name,omitempty"`
}

// TokenConfig is about the tokens the edge signs and accepts.
type TokenConfig struct {
	// Issuer is the "iss" of the edge's tokens; tokens from another issuer
	// are refused.
	Issuer string `yaml:"issuer"`
	// SigningKeys: the first one signs; all of them verify (rotation: add
	// the new key first, remove the old one once its tokens have expired).
	SigningKeys []SigningKey `yaml:"signing_keys"`
	// AccessTTL is the lifetime of access tokens from sign-in (default
	// 15m, between 1m and 1h).
	AccessTTL Duration `yaml:"access_ttl,omitempty"`
	// RefreshTTL is how long an unused refresh token lives (default 720h);
	// each use returns a new one.
	RefreshTTL Duration `yaml:"refresh_ttl,omitempty"`
	// ServiceTTL is the default lifetime of minted service tokens (24h).
	ServiceTTL Duration `yaml:"service_ttl,omitempty"`
	// MaxServiceTTL caps minted service tokens (default 90 days).
	MaxServiceTTL Duration `yaml:"max_service_ttl,omitempty"`
	// Leeway is the clock skew allowed on exp and nbf (default 30s).
	Leeway Duration `yaml:"leeway,omitempty"`
}

// SigningKey is one Ed25519 private key file (PKCS #8 PEM) and its key id.
type SigningKey struct {
	ID   string `yaml:"id"`
	File string `yaml:"file"`
}

// AuditConfig says where the per-stream JSON audit lines go.
type AuditConfig struct {
	// File is appended to (created 0600); empty or "-" means stderr.
	File string `yaml:"file,omitempty"`
}

// App is a hostname users open, the tunnel that serves it and who may.
type App struct {
	Hostname string `yaml:"hostname"`
	// Name is the app's short name, in the names of the kubeconfig
	// entries of the people who join (default: the hostname's first
	// label; see [App.ShortName]).
	Name string `yaml:"name,omitempty"`
	// DisplayName is what a person's tray shows (default: Name).
	DisplayName string `yaml:"display_name,omitempty"`
	// Tunnel names the tunnel that serves the app. Optional: by default the
	// tunnel whose hostnames include the app's.
	Tunnel string `yaml:"tunnel,omitempty"`
	Policy Policy `yaml:"policy"`
	// Kubernetes describes the Kubernetes API server behind the app (see
	// kubernetes.go).
	Kubernetes *AppKubernetes `yaml:"kubernetes,omitempty"`
}

// Policy says who may open an app, checked on every stream: a deny rule
// that matches refuses; otherwise an allow rule must match. An empty allow
// rule allows nobody.
type Policy struct {
	Allow Rule `yaml:"allow"`
	Deny  Rule `yaml:"deny,omitempty"`
}

// Rule matches an identity by exact email, email domain (the part after
// "@", exact) or group. Comparisons ignore case.
type Rule struct {
	Emails       []string `yaml:"emails,omitempty"`
	EmailDomains []string `yaml:"email_domains,omitempty"`
	Groups       []string `yaml:"groups,omitempty"`
}

func (r Rule) empty() bool {
	return len(r.Emails) == 0 && len(r.EmailDomains) == 0 && len(r.Groups) == 0
}

// Tunnel is a connector's identity: the edge keeps only the SHA-256 (hex)
// of its secret.
type Tunnel struct {
	Name       string   `yaml:"name"`
	ID         string   `yaml:"id"`
	SecretHash string   `yaml:"secret_hash"`
	Hostnames  []string `yaml:"hostnames"`
	// MaxConnections caps the connector connections the tunnel holds at
	// this edge, draining ones included (default
	// DefaultTunnelConnections; a connector holds 2 per edge, and as many
	// again for a moment when it restarts): one more is refused with
	// tunnel_full and a log line that names the connectors holding it, so
	// that a copy of the credentials cannot silently take a share of the
	// streams. It applies to new connections.
	MaxConnections int `yaml:"max_connections,omitempty"`
}

// Bounds of [Tunnel.MaxConnections].
const (
	DefaultTunnelConnections = 8
	MaxTunnelConnections     = 1024
)

// Duration is a time.Duration written as "90s", "15m", "24h".
type Duration time.Duration

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 90s, 15m or 24h", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// LoadConfig reads, defaults and validates the configuration at path.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read edge config: %w", err)
	}
	cfg, err := ParseConfig(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("edge config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses, defaults and validates a configuration whose relative
// paths resolve against dir.
func ParseConfig(b []byte, dir string) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, err
	}
	cfg.dir = dir
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.AdminListen == "" {
		c.AdminListen = DefaultAdminListen
	}
	c.publicAddrsSet = len(c.PublicAddrs) > 0
	if !c.publicAddrsSet {
		c.PublicAddrs = []string{c.Listen}
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = Duration(DefaultShutdownGrace)
	}
	if c.TLS.ServerName == "" {
		c.TLS.ServerName = DefaultServerName
	}
	t := &c.Tokens
	if t.AccessTTL == 0 {
		t.AccessTTL = Duration(DefaultAccessTTL)
	}
	if t.ServiceTTL == 0 {
		t.ServiceTTL = Duration(DefaultServiceTTL)
	}
	if t.MaxServiceTTL == 0 {
		t.MaxServiceTTL = Duration(DefaultMaxServiceTTL)
	}
	if t.Leeway == 0 {
		t.Leeway = Duration(30 * time.Second)
	}
	storeFile := c.StoreFile
	c.signInDefaults()
	if c.Store != nil && storeFile == "" {
		c.StoreFile = "" // no embedded store beside the shared one
	}
	c.Limits.setDefaults()
}

// Dir is the folder relative paths resolve against.
func (c *Config) Dir() string { return c.dir }

// Path resolves p against the config's folder.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Validate reports every field that is wrong, each named by its path in the
// file, e.g. `apps[1].policy.allow.emails[0]: "bob" is not an email address`.
func (c *Config) Validate() error {
	var v validator
	v.hostPort("listen", c.Listen)
	if c.TCPListen != "" && c.TCPListen != TCPOff {
		v.hostPort("tcp_listen", c.TCPListen)
	}
	if c.AdminListen != AdminOff {
		v.hostPort("admin_listen", c.AdminListen)
	}
	for i, a := range c.PublicAddrs {
		v.hostPort(fmt.Sprintf("public_addrs[%d]", i), a)
	}
	if c.Advertise != "" {
		v.hostPort("advertise", c.Advertise)
	}
	if len(c.EdgeID) > wire.MaxEdgeIDLen {
		v.add("edge_id", fmt.Sprintf("is %d bytes, limit %d", len(c.EdgeID), wire.MaxEdgeIDLen))
	}
	if c.ShutdownGrace < 0 {
		v.add("shutdown_grace", "must not be negative")
	}
	c.Limits.validate(&v)
	v.required("tls.cert_file", c.TLS.CertFile)
	v.required("tls.key_file", c.TLS.KeyFile)
	v.required("tokens.issuer", c.Tokens.Issuer)
	if len(c.Tokens.SigningKeys) == 0 {
		v.add("tokens.signing_keys", "at least one key is required")
	}
	kids := map[string]bool{}
	for i, k := range c.Tokens.SigningKeys {
		f := fmt.Sprintf("tokens.signing_keys[%d]", i)
		v.required(f+".id", k.ID)
		v.required(f+".file", k.File)
		if kids[k.ID] {
			v.add(f+".id", fmt.Sprintf("%q appears twice", k.ID))
		}
		kids[k.ID] = true
	}
	for name, d := range map[string]Duration{"access_ttl": c.Tokens.AccessTTL, "service_ttl": c.Tokens.ServiceTTL, "max_service_ttl": c.Tokens.MaxServiceTTL} {
		if d < 0 {
			v.add("tokens."+name, "must be positive")
		}
	}
	if c.Tokens.ServiceTTL > c.Tokens.MaxServiceTTL {
		v.add("tokens.service_ttl", fmt.Sprintf("%s exceeds max_service_ttl %s", time.Duration(c.Tokens.ServiceTTL), time.Duration(c.Tokens.MaxServiceTTL)))
	}

	c.validateSignIn(&v)
	c.validateStore(&v)
	c.validateServiceTokens(&v)

	tunnelByName := map[string]int{}
	servedBy := map[string]string{} // hostname → tunnel name
	ids := map[string]bool{}
	for i, t := range c.Tunnels {
		f := fmt.Sprintf("tunnels[%d]", i)
		if err := checkName(t.Name); err != nil {
			v.add(f+".name", err.Error())
		} else if _, dup := tunnelByName[t.Name]; dup {
			v.add(f+".name", fmt.Sprintf("tunnel %q appears twice", t.Name))
		}
		tunnelByName[t.Name] = i
		if v.required(f+".id", t.ID) {
			if ids[t.ID] {
				v.add(f+".id", fmt.Sprintf("%q appears twice", t.ID))
			}
			ids[t.ID] = true
		}
		if _, err := parseSecretHash(t.SecretHash); err != nil {
			v.add(f+".secret_hash", err.Error())
		}
		if t.MaxConnections < 0 || t.MaxConnections > MaxTunnelConnections {
			v.add(f+".max_connections", fmt.Sprintf("%d is outside [1, %d] (0: the default, %d)", t.MaxConnections, MaxTunnelConnections, DefaultTunnelConnections))
		}
		for j, h := range t.Hostnames {
			hf := fmt.Sprintf("%s.hostnames[%d]", f, j)
			if err := wire.CheckHostname(h); err != nil {
				v.add(hf, err.Error())
				continue
			}
			h = strings.ToLower(h)
			if other, dup := servedBy[h]; dup {
				v.add(hf, fmt.Sprintf("%q is already served by tunnel %q", h, other))
			}
			servedBy[h] = t.Name
		}
	}

	apps := map[string]bool{}
	for i, a := range c.Apps {
		f := fmt.Sprintf("apps[%d]", i)
		if err := wire.CheckHostname(a.Hostname); err != nil {
			v.add(f+".hostname", err.Error())
			continue
		}
		h := strings.ToLower(a.Hostname)
		if apps[h] {
			v.add(f+".hostname", fmt.Sprintf("app %q appears twice", h))
		}
		apps[h] = true
		served, ok := servedBy[h]
		_, named := tunnelByName[a.Tunnel]
		switch {
		case a.Tunnel != "" && !named:
			v.add(f+".tunnel", fmt.Sprintf("no tunnel is named %q", a.Tunnel))
		case !ok:
			v.add(f+".hostname", fmt.Sprintf("no tunnel serves %q: add it to a tunnel's hostnames", h))
		case a.Tunnel != "" && a.Tunnel != served:
			v.add(f+".tunnel", fmt.Sprintf("%q, but tunnel %q lists hostname %q", a.Tunnel, served, h))
		}
		v.rule(f+".policy.allow", a.Policy.Allow)
		v.rule(f+".policy.deny", a.Policy.Deny)
	}
	c.validateKubernetes(&v, apps)
	c.validateJoin(&v)
	for h, t := range servedBy {
		if !apps[h] {
			v.add(fmt.Sprintf("tunnels[%d].hostnames", tunnelByName[t]), fmt.Sprintf("%q has no entry under apps (and so no policy)", h))
		}
	}
	return v.err()
}

type validator struct{ errs []error }

func (v *validator) add(field, msg string) { v.errs = append(v.errs, fmt.Errorf("%s: %s", field, msg)) }

func (v *validator) err() error { return errors.Join(v.errs...) }

func (v *validator) required(field, s string) bool {
	if strings.TrimSpace(s) == "" {
		v.add(field, "is required")
		return false
	}
	return true
}

func (v *validator) hostPort(field, s string) {
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		v.add(field, fmt.Sprintf("%q is not host:port", s))
	}
}

func (v *validator) rule(field string, r Rule) {
	for i, e := range r.Emails {
		if err := checkEmail(e); err != nil {
			v.add(fmt.Sprintf("%s.emails[%d]", field, i), err.Error())
		}
	}
	for i, d := range r.EmailDomains {
		if err := wire.CheckHostname(d); err != nil {
			v.add(fmt.Sprintf("%s.email_domains[%d]", field, i), err.Error())
		}
	}
	for i, g := range r.Groups {
		if strings.TrimSpace(g) == "" {
			v.add(fmt.Sprintf("%s.groups[%d]", field, i), "is empty")
		}
	}
}

// checkEmail accepts local@domain with a non-empty local part and a valid
// domain; it is a sanity check, not RFC 5322.
func checkEmail(s string) error {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%q is not an email address", s)
	}
	if err := wire.CheckHostname(s[at+1:]); err != nil {
		return fmt.Errorf("%q is not an email address: %w", s, err)
	}
	return nil
}

// checkName accepts tunnel names: 1 to 63 of a-z 0-9 - _ . starting with a
// letter or digit (they become file names).
func checkName(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	if len(s) > 63 {
		return fmt.Errorf("%q is longer than 63 characters", s)
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.')
		if !ok {
			return fmt.Errorf("%q may hold only a-z, 0-9, '-', '_', '.' and must start with a letter or digit", s)
		}
	}
	return nil
}
