package oauth

import (
	"crypto/ed25519"
	"fmt"
	"net/url"
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

// OIDCConfig is the upstream OpenID Connect provider (config "oidc").
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// ISSUER/.well-known/openid-configuration.
	Issuer       string `yaml:"issuer"`
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret,omitempty"`
	// Scopes asked for besides "openid" (default: email, profile).
	Scopes []string `yaml:"scopes,omitempty"`
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
	// Users is the built-in user list; OIDC the upstream provider (nil:
	// none).
	Users       []User
	OIDC        *OIDCConfig
	Revocations []Revocation
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

// ValidateOIDC checks the upstream provider's config (nil is fine).
func ValidateOIDC(o *OIDCConfig) []FieldError {
	if o == nil {
		return nil
	}
	var errs []FieldError
	u, err := url.Parse(o.Issuer)
	switch {
	case o.Issuer == "":
		errs = append(errs, FieldError{"oidc.issuer", "is required"})
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		errs = append(errs, FieldError{"oidc.issuer", fmt.Sprintf("%q is not an http(s) URL", o.Issuer)})
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		errs = append(errs, FieldError{"oidc.issuer", fmt.Sprintf("%q: plain http is allowed only on loopback", o.Issuer)})
	}
	if strings.TrimSpace(o.ClientID) == "" {
		errs = append(errs, FieldError{"oidc.client_id", "is required"})
	}
	if l := o.SessionLifetime; l != 0 && (l < 5*time.Minute || l > DefaultRefreshTTL) {
		errs = append(errs, FieldError{"oidc.session_lifetime", fmt.Sprintf("%s: between 5m and %s", l, DefaultRefreshTTL)})
	}
	return errs
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

func (o *OIDCConfig) scopes() []string {
	s := []string{"openid"}
	extra := o.Scopes
	if len(extra) == 0 {
		extra = []string{"email", "profile"}
	}
	for _, x := range extra {
		if x != "openid" {
			s = append(s, x)
		}
	}
	return s
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

func jwk(k wire.PublicKey) map[string]string {
	return map[string]string{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.ID,
		"x": b64(k.Key[:ed25519.PublicKeySize]),
	}
}
