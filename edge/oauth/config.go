package oauth

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// Identity providers, the "idp" claim of access tokens.
const (
	IDPUsers = "users" // the edge's built-in user list
	IDPOIDC  = "oidc"  // the upstream OIDC provider
)

// Defaults and bounds.
const (
	DefaultAccessTTL  = 15 * time.Minute
	MinAccessTTL      = time.Minute
	MaxAccessTTL      = time.Hour
	DefaultRefreshTTL = 30 * 24 * time.Hour
	CodeTTL           = 60 * time.Second
	DeviceCodeTTL     = 10 * time.Minute
	DeviceInterval    = 5 * time.Second
	// ClientID is the one public client: the Airlock daemon.
	ClientID = "airlock"
)

// User is one entry of the edge's built-in user list (config "users").
type User struct {
	Email string `yaml:"email"`
	// PasswordHash is a bcrypt hash ("$2a$…"); `airlock-edge user add`
	// writes it.
	PasswordHash string   `yaml:"password_hash"`
	Groups       []string `yaml:"groups,omitempty"`
}

// OIDCConfig is one upstream OpenID Connect provider (config
// "oidc_providers", or the single "oidc"). See README "Upstream identity
// providers" for a worked example.
type OIDCConfig struct {
	// Name names the provider in logs, audit lines, the access token's
	// "idp_name" claim and its callback path (lower-case letters, digits
	// and "-"; required in oidc_providers, DefaultProviderName for the
	// single oidc section).
	Name string `yaml:"name,omitempty"`
	// DisplayName is the sign-in button's "Sign in with …" (default: the
	// issuer's host name).
	DisplayName string `yaml:"display_name,omitempty"`
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document (ISSUER/.well-known/openid-configuration) says it.
	Issuer   string `yaml:"issuer"`
	ClientID string `yaml:"client_id"`
	// ClientSecret, or ClientSecretFile: a file holding it (trailing
	// white space dropped; relative to the config's folder), read at
	// start and on every reload. At most one of them.
	ClientSecret     string `yaml:"client_secret,omitempty"`
	ClientSecretFile string `yaml:"client_secret_file,omitempty"`
	// CAFile is a PEM file of the CAs the provider's TLS certificate is
	// checked against instead of the system roots (a private Dex or
	// Keycloak).
	CAFile string `yaml:"ca_file,omitempty"`
	// RedirectURI is the redirect URI registered at the provider
	// (default PUBLIC_URL/oauth/callback; the edge logs it at start). Set
	// it when the provider reaches the edge under another address; its
	// path must be /oauth/callback or /oauth/callback/NAME.
	RedirectURI string `yaml:"redirect_uri,omitempty"`
	// Scopes are asked for in addition to the defaults, openid email
	// profile (and groups: see GroupsScope).
	Scopes []string `yaml:"scopes,omitempty"`
	// GroupsScope is the scope asked for whenever an app's policy names
	// groups or an app has a Kubernetes identity (default "groups");
	// "none" for a provider that refuses it (Google) or sends groups
	// without it (Entra ID).
	GroupsScope string `yaml:"groups_scope,omitempty"`
	// AuthParams are extra parameters of the authorization request:
	// prompt, max_age, login_hint, a provider's own such as Dex's
	// connector_id. The protocol's own parameters are refused.
	AuthParams map[string]string `yaml:"auth_params,omitempty"`
	// EmailClaim names the claim that holds the email (default "email").
	EmailClaim string `yaml:"email_claim,omitempty"`
	// GroupsClaim names the claim that holds the groups (default
	// "groups"); a missing claim means no groups.
	GroupsClaim string `yaml:"groups_claim,omitempty"`
	// AllowUnverifiedEmail accepts an email the provider does not say is
	// verified (email_verified false or missing). Off by default: with
	// an email-based policy an unverified address is anyone's to claim.
	// Turn it on only for a provider that holds no address it has not
	// verified itself.
	AllowUnverifiedEmail bool `yaml:"allow_unverified_email,omitempty"`
	// SessionLifetime is how long a sign-in through this provider lasts
	// (default 12h): no refresh extends it, and after it the person
	// signs in at the provider again, so someone it removed loses access
	// within this time.
	SessionLifetime time.Duration `yaml:"session_lifetime,omitempty"`
}

// DefaultProviderName is the name of the provider of the single "oidc"
// section.
const DefaultProviderName = "oidc"

// GroupsScopeNone as groups_scope asks for no groups scope.
const GroupsScopeNone = "none"

// Bounds of a provider's config.
const (
	maxProviders       = 16
	maxAuthParams      = 16
	maxAuthParamLen    = 512
	maxSecretFileBytes = 4 << 10
	maxCAFileBytes     = 1 << 20
)

// reservedAuthParams are the authorization request's own parameters,
// which auth_params may not set.
var reservedAuthParams = map[string]bool{
	"client_id": true, "redirect_uri": true, "response_type": true, "scope": true, "state": true,
	"nonce": true, "code_challenge": true, "code_challenge_method": true, "response_mode": true,
	"request": true, "request_uri": true, "client_secret": true,
}

// DefaultSessionLifetime is the default [OIDCConfig.SessionLifetime].
const DefaultSessionLifetime = 12 * time.Hour

// sessionLifetime is the absolute lifetime of an upstream sign-in (o may
// be nil: the provider left the config).
func (o *OIDCConfig) sessionLifetime() time.Duration {
	if o == nil || o.SessionLifetime <= 0 {
		return DefaultSessionLifetime
	}
	return o.SessionLifetime
}

// Revocation refuses every access token of Email issued before Before and
// revokes the user's refresh token families made before it (config
// "revocations"; `airlock-edge user revoke` adds one).
type Revocation struct {
	Email  string    `yaml:"email"`
	Before time.Time `yaml:"before"`
}

// Settings are what the authorization server needs from the edge config.
// The edge passes new Settings on every config reload.
type Settings struct {
	// PublicURL is the base URL of the server, e.g. https://edge.example.com:7843,
	// the "issuer" of the metadata.
	PublicURL string
	// Signer signs access tokens (the config's first signing key); Keys
	// are every verification key, published in the JWKS.
	Signer *token.Signer
	Keys   []wire.PublicKey
	// AccessTTL is the access tokens' lifetime, RefreshTTL how long an
	// unused refresh token lives.
	AccessTTL, RefreshTTL time.Duration
	// Apps are the app hostnames (lower case) tokens may name.
	Apps []string
	// KubeAudiences maps an app (lower case) whose Kubernetes API server
	// trusts the edge as its OIDC issuer to that cluster's audience: a
	// token exchange for the app with requested_token_type id_token
	// answers a cluster credential for it (see cluster.go).
	KubeAudiences map[string]string
	// ClusterKeys verify cluster credentials besides the Signer's own
	// (the other signing keys' after a rotation), published in the JWKS.
	ClusterKeys []*token.ClusterSigner
	// Users is the built-in user list; Providers the upstream OIDC
	// providers (names unique; file paths absolute or relative to the
	// process's folder).
	Users       []User
	Providers   []OIDCConfig
	Revocations []Revocation
	// GroupsUsed says a policy or a cluster identity uses groups: the
	// providers are asked for their groups scope.
	GroupsUsed bool
	// prepared are the providers [Server.Prepare] checked.
	prepared []*upstream

	// Policy is the apps' policy: codes, device approvals and tokens
	// name only the apps it allows (nil: every app). Streams are checked
	// again, since the policy may change after issuance.
	Policy PolicyFunc
}

// FieldError is one wrong field of the sign-in config, named by its path.
type FieldError struct {
	Field, Msg string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// ValidateUsers checks the built-in user list; fields are named
// users[i].email and so on.
func ValidateUsers(users []User) []FieldError {
	var errs []FieldError
	seen := map[string]bool{}
	for i, u := range users {
		f := fmt.Sprintf("users[%d]", i)
		if err := CheckEmail(u.Email); err != nil {
			errs = append(errs, FieldError{f + ".email", err.Error()})
		} else if e := strings.ToLower(u.Email); seen[e] {
			errs = append(errs, FieldError{f + ".email", fmt.Sprintf("%q appears twice", e)})
		} else {
			seen[e] = true
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			errs = append(errs, FieldError{f + ".password_hash", "is not a bcrypt hash (use airlock-edge user add)"})
		}
		for j, g := range u.Groups {
			if strings.TrimSpace(g) == "" {
				errs = append(errs, FieldError{fmt.Sprintf("%s.groups[%d]", f, j), "is empty"})
			}
		}
	}
	return errs
}

// ValidateOIDC checks the single "oidc" section (nil is fine).
func ValidateOIDC(o *OIDCConfig) []FieldError {
	if o == nil {
		return nil
	}
	c := *o
	if c.Name == "" {
		c.Name = DefaultProviderName
	}
	return validateProvider(&c, "oidc")
}

// ValidateProviders checks the "oidc_providers" list; fields are named
// oidc_providers[i].issuer and so on.
func ValidateProviders(ps []OIDCConfig) []FieldError {
	var errs []FieldError
	if len(ps) > maxProviders {
		errs = append(errs, FieldError{"oidc_providers", fmt.Sprintf("%d providers; at most %d", len(ps), maxProviders)})
	}
	seen := map[string]bool{}
	for i := range ps {
		f := fmt.Sprintf("oidc_providers[%d]", i)
		if ps[i].Name == "" {
			errs = append(errs, FieldError{f + ".name", "is required"})
		} else if seen[ps[i].Name] {
			errs = append(errs, FieldError{f + ".name", fmt.Sprintf("%q appears twice", ps[i].Name)})
		}
		seen[ps[i].Name] = true
		errs = append(errs, validateProvider(&ps[i], f)...)
	}
	return errs
}

func validateProvider(o *OIDCConfig, f string) []FieldError {
	var errs []FieldError
	if o.Name != "" && !validName(o.Name) {
		errs = append(errs, FieldError{f + ".name", fmt.Sprintf("%q: use 1-32 lower-case letters, digits and -", o.Name)})
	}
	if err := checkHTTPURL(o.Issuer); o.Issuer == "" {
		errs = append(errs, FieldError{f + ".issuer", "is required"})
	} else if err != nil {
		errs = append(errs, FieldError{f + ".issuer", err.Error()})
	}
	if strings.TrimSpace(o.ClientID) == "" {
		errs = append(errs, FieldError{f + ".client_id", "is required"})
	}
	if o.ClientSecret != "" && o.ClientSecretFile != "" {
		errs = append(errs, FieldError{f + ".client_secret_file", "set client_secret or client_secret_file, not both"})
	}
	if o.RedirectURI != "" {
		u, err := url.Parse(o.RedirectURI)
		switch {
		case checkHTTPURL(o.RedirectURI) != nil:
			errs = append(errs, FieldError{f + ".redirect_uri", checkHTTPURL(o.RedirectURI).Error()})
		case err == nil && u.Path != callbackPath && u.Path != callbackPath+"/"+o.Name:
			errs = append(errs, FieldError{f + ".redirect_uri", fmt.Sprintf("%q: the path must be %s or %s/%s (where the edge serves the callback)", o.RedirectURI, callbackPath, callbackPath, o.Name)})
		case err == nil && (u.RawQuery != "" || u.Fragment != ""):
			errs = append(errs, FieldError{f + ".redirect_uri", fmt.Sprintf("%q has a query or fragment", o.RedirectURI)})
		}
	}
	for j, sc := range o.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
			errs = append(errs, FieldError{fmt.Sprintf("%s.scopes[%d]", f, j), fmt.Sprintf("%q is not a scope", sc)})
		}
	}
	if g := o.GroupsScope; g != "" && strings.ContainsAny(g, " \t\r\n\"\\") {
		errs = append(errs, FieldError{f + ".groups_scope", fmt.Sprintf("%q is not a scope (or %q)", g, GroupsScopeNone)})
	}
	if len(o.AuthParams) > maxAuthParams {
		errs = append(errs, FieldError{f + ".auth_params", fmt.Sprintf("%d parameters; at most %d", len(o.AuthParams), maxAuthParams)})
	}
	for k, v := range o.AuthParams {
		switch {
		case reservedAuthParams[strings.ToLower(k)]:
			errs = append(errs, FieldError{f + ".auth_params." + k, "is the edge's own parameter of the authorization request; it cannot be set"})
		case k == "" || len(k)+len(v) > maxAuthParamLen:
			errs = append(errs, FieldError{f + ".auth_params." + k, fmt.Sprintf("name and value are 1-%d bytes", maxAuthParamLen)})
		}
	}
	if l := o.SessionLifetime; l != 0 && (l < 5*time.Minute || l > DefaultRefreshTTL) {
		errs = append(errs, FieldError{f + ".session_lifetime", fmt.Sprintf("%s: between 5m and %s", l, DefaultRefreshTTL)})
	}
	return errs
}

// checkHTTPURL accepts an https URL, or http on loopback.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("%q is not an http(s) URL", s)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		return fmt.Errorf("%q: plain http is allowed only on loopback", s)
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// ValidateRevocations checks the revocation list.
func ValidateRevocations(rs []Revocation) []FieldError {
	var errs []FieldError
	for i, r := range rs {
		f := fmt.Sprintf("revocations[%d]", i)
		if err := CheckEmail(r.Email); err != nil {
			errs = append(errs, FieldError{f + ".email", err.Error()})
		}
		if r.Before.IsZero() {
			errs = append(errs, FieldError{f + ".before", "is required (an RFC 3339 time)"})
		}
	}
	return errs
}

// CheckEmail accepts local@domain with a non-empty local part and a valid
// domain; it is a sanity check, not RFC 5322.
func CheckEmail(s string) error {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%q is not an email address", s)
	}
	if err := wire.CheckHostname(s[at+1:]); err != nil {
		return fmt.Errorf("%q is not an email address: %w", s, err)
	}
	return nil
}

// HashPassword returns the bcrypt hash of a password for [User].
func HashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", fmt.Errorf("the password is %d characters; use at least 8", len(password))
	}
	if len(password) > 72 {
		return "", fmt.Errorf("the password is %d bytes; bcrypt takes at most 72", len(password))
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// scopes are openid email profile, the configured ones, and the groups
// scope when groups are used; each once.
func (o *OIDCConfig) scopes(groupsUsed bool) []string {
	s := []string{"openid", "email", "profile"}
	extra := o.Scopes
	if g := o.GroupsScope; groupsUsed && g != GroupsScopeNone {
		if g == "" {
			g = "groups"
		}
		extra = append(slices.Clone(extra), g)
	}
	for _, x := range extra {
		if !slices.Contains(s, x) {
			s = append(s, x)
		}
	}
	return s
}

// displayName is the sign-in button's provider name.
func (o *OIDCConfig) displayName() string {
	if o.DisplayName != "" {
		return o.DisplayName
	}
	return upstreamName(o.Issuer)
}

func (o *OIDCConfig) emailClaim() string {
	if o.EmailClaim == "" {
		return "email"
	}
	return o.EmailClaim
}

func (o *OIDCConfig) groupsClaim() string {
	if o.GroupsClaim == "" {
		return "groups"
	}
	return o.GroupsClaim
}
