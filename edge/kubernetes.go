package edge

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

// AppKubernetes is what the edge knows of the Kubernetes API server
// behind an app (config apps[].kubernetes).
type AppKubernetes struct {
	// Server is the API server's URL as kubectl should dial it through
	// Airlock (e.g. https://10.0.0.1:6443): a person who joins gets a
	// kubeconfig cluster entry with it. Without it the app has no entry
	// of its own.
	Server string `yaml:"server,omitempty"`
	// CAFile is the PEM of the CA that signed the API server's
	// certificate (relative to the config), for the kubeconfig's
	// certificate-authority-data; CAData is the same inline. At most one.
	CAFile string `yaml:"ca_file,omitempty"`
	CAData string `yaml:"ca_data,omitempty"`
	// TLSServerName is the name to check the API server's certificate
	// against when it differs from Server's host (tls-server-name).
	TLSServerName string `yaml:"tls_server_name,omitempty"`
	// OIDC, when set, says the API server trusts this edge as an OpenID
	// Connect issuer (structured authentication, a JWT authenticator):
	// the edge then issues cluster credentials for the app, and
	// `airlock-edge app kube-auth APP` prints the API server's
	// AuthenticationConfiguration.
	OIDC *KubeOIDC `yaml:"oidc,omitempty"`
}

// KubeOIDC is an app's Kubernetes OIDC identity.
type KubeOIDC struct {
	// Audience is the cluster's audience: the "aud" of its credentials and
	// the API server's jwt[].issuer.audiences. It is never an app
	// hostname, so no credential of one kind can pass for the other.
	Audience string `yaml:"audience"`
	// UsernamePrefix is put before the email in the Kubernetes user name
	// (default none: the user is the email).
	UsernamePrefix string `yaml:"username_prefix,omitempty"`
	// GroupsPrefix is put before each group (default "airlock:"), so that
	// the edge's groups cannot name a cluster's built-in groups such as
	// system:masters.
	GroupsPrefix *string `yaml:"groups_prefix,omitempty"`
}

// DefaultKubeGroupsPrefix is the default [KubeOIDC.GroupsPrefix].
const DefaultKubeGroupsPrefix = "airlock:"

// Groups is the groups prefix in force.
func (k *KubeOIDC) groupsPrefix() string {
	if k.GroupsPrefix == nil {
		return DefaultKubeGroupsPrefix
	}
	return *k.GroupsPrefix
}

// MaxKubeAudienceLen bounds an audience.
const MaxKubeAudienceLen = 253

// Bounds of an app's Kubernetes details.
const (
	MaxKubeServerLen = 2048
	// MaxKubeCALen bounds the CA PEM of one app (a few certificates).
	MaxKubeCALen = 16 << 10
)

func (c *Config) validateKubernetes(v *validator, apps map[string]bool) {
	seen := map[string]string{}
	for i, a := range c.Apps {
		if a.Kubernetes != nil {
			c.validateKubeCluster(v, fmt.Sprintf("apps[%d].kubernetes", i), a.Kubernetes)
		}
		if a.Kubernetes == nil || a.Kubernetes.OIDC == nil {
			continue
		}
		f := fmt.Sprintf("apps[%d].kubernetes.oidc", i)
		o := a.Kubernetes.OIDC
		aud := o.Audience
		switch {
		case strings.TrimSpace(aud) == "":
			v.add(f+".audience", "is required: the cluster's audience, e.g. kubernetes:"+strings.ToLower(a.Hostname))
		case len(aud) > MaxKubeAudienceLen || strings.ContainsAny(aud, " \t\r\n"):
			v.add(f+".audience", fmt.Sprintf("%q: at most %d characters, no spaces", aud, MaxKubeAudienceLen))
		case apps[strings.ToLower(aud)]:
			v.add(f+".audience", fmt.Sprintf("%q is an app hostname: a cluster's audience must differ from every app", aud))
		case seen[aud] != "":
			v.add(f+".audience", fmt.Sprintf("%q is already the audience of app %s", aud, seen[aud]))
		default:
			seen[aud] = a.Hostname
		}
		if strings.HasPrefix(o.groupsPrefix(), "system:") || strings.HasPrefix(o.UsernamePrefix, "system:") {
			v.add(f, "a prefix starting with system: would let the edge's names pass for the cluster's own")
		}
	}
}

// validateKubeCluster checks what kubectl is told of an app's API server.
func (c *Config) validateKubeCluster(v *validator, f string, k *AppKubernetes) {
	if k.Server != "" {
		u, err := url.Parse(k.Server)
		switch {
		case len(k.Server) > MaxKubeServerLen:
			v.add(f+".server", fmt.Sprintf("is %d bytes, limit %d", len(k.Server), MaxKubeServerLen))
		case err != nil || u.Scheme != "https" || u.Host == "" || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
			v.add(f+".server", fmt.Sprintf("%q is not an https://HOST[:PORT][/PATH] URL", k.Server))
		case u.Port() != "" && wire.CheckTarget(u.Host) != nil:
			v.add(f+".server", fmt.Sprintf("%q: the port is not a number from 1 to 65535", k.Server))
		}
	} else if k.CAFile != "" || k.CAData != "" || k.TLSServerName != "" {
		v.add(f+".server", "is required with ca_file, ca_data or tls_server_name: the URL kubectl dials, e.g. https://10.0.0.1:6443")
	}
	if k.CAFile != "" && k.CAData != "" {
		v.add(f+".ca_data", "set ca_file or ca_data, not both")
	}
	if k.CAFile != "" {
		if _, err := c.readKubeCA(k); err != nil {
			v.add(f+".ca_file", err.Error())
		}
	} else if k.CAData != "" {
		if err := checkCAPEM([]byte(k.CAData)); err != nil {
			v.add(f+".ca_data", err.Error())
		}
	}
	if k.TLSServerName != "" {
		if err := wire.CheckHostname(k.TLSServerName); err != nil {
			v.add(f+".tls_server_name", err.Error())
		}
	}
}

// readKubeCA is the CA PEM of an app's API server: ca_data, else the
// content of ca_file, checked; nil for neither.
func (c *Config) readKubeCA(k *AppKubernetes) ([]byte, error) {
	if k.CAData != "" {
		return []byte(k.CAData), nil
	}
	if k.CAFile == "" {
		return nil, nil
	}
	f, err := os.Open(c.Path(k.CAFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxKubeCALen+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", c.Path(k.CAFile), err)
	}
	if err := checkCAPEM(b); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Path(k.CAFile), err)
	}
	return b, nil
}

// checkCAPEM accepts up to MaxKubeCALen bytes of PEM holding only
// certificates, at least one.
func checkCAPEM(b []byte) error {
	if len(b) > MaxKubeCALen {
		return fmt.Errorf("over %d bytes: give the CA certificate alone", MaxKubeCALen)
	}
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			if strings.TrimSpace(string(rest)) != "" {
				return errors.New("holds something that is not PEM after its certificates")
			}
			break
		}
		if blk.Type != "CERTIFICATE" {
			return fmt.Errorf("holds a %s block: only CERTIFICATE blocks belong there", blk.Type)
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return fmt.Errorf("a certificate does not parse: %w", err)
		}
		n++
	}
	if n == 0 {
		return errors.New("holds no PEM CERTIFICATE")
	}
	return nil
}

// kubeAudiences maps each app with a Kubernetes OIDC identity to its
// cluster's audience.
func (c *Config) kubeAudiences() map[string]string {
	m := map[string]string{}
	for _, a := range c.Apps {
		if a.Kubernetes != nil && a.Kubernetes.OIDC != nil {
			m[strings.ToLower(a.Hostname)] = a.Kubernetes.OIDC.Audience
		}
	}
	return m
}

// clusterKeys are the cluster credential keys of every signing key (see
// token.ClusterSignerFor), for the JWKS.
func (c *Config) clusterKeys() ([]*token.ClusterSigner, error) {
	out := make([]*token.ClusterSigner, 0, len(c.Tokens.SigningKeys))
	for i := range c.Tokens.SigningKeys {
		key, err := c.loadSigningKey(i)
		if err != nil {
			return nil, err
		}
		cs, err := token.ClusterSignerFor(key)
		if err != nil {
			return nil, fmt.Errorf("tokens.signing_keys[%d]: %w", i, err)
		}
		out = append(out, cs)
	}
	return out, nil
}

// KubeAuthConfig returns the kube-apiserver AuthenticationConfiguration
// (apiserver.config.k8s.io/v1, for --authentication-config) that trusts
// this edge as the JWT issuer of app's cluster credentials: issuer is the
// edge's public sign-in URL (empty: the config's, as serve computes it
// from public_url or the TLS server name and http_listen), its
// certificate authority the config's tls.ca_file, the user name the
// email and the groups the groups claim, each with its prefix.
func (c *Config) KubeAuthConfig(app, issuer string) ([]byte, error) {
	var oidc *KubeOIDC
	for _, a := range c.Apps {
		if strings.EqualFold(a.Hostname, app) {
			if a.Kubernetes == nil || a.Kubernetes.OIDC == nil {
				return nil, fmt.Errorf("app %s has no kubernetes.oidc section: add one with the cluster's audience", app)
			}
			oidc = a.Kubernetes.OIDC
		}
	}
	if oidc == nil {
		return nil, fmt.Errorf("no app %s in the edge config", app)
	}
	if issuer == "" {
		issuer = c.publicURL(nil)
	}
	issuer = strings.TrimRight(issuer, "/")
	var ca string
	if c.TLS.CAFile != "" {
		b, err := os.ReadFile(c.Path(c.TLS.CAFile))
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		ca = string(b)
	}
	type claim struct {
		Claim  string  `yaml:"claim"`
		Prefix *string `yaml:"prefix"`
	}
	type issuerT struct {
		URL                  string   `yaml:"url"`
		Audiences            []string `yaml:"audiences"`
		CertificateAuthority string   `yaml:"certificateAuthority,omitempty"`
	}
	type rule struct {
		Claim         string `yaml:"claim"`
		RequiredValue string `yaml:"requiredValue"`
	}
	type userRule struct {
		Expression string `yaml:"expression"`
		Message    string `yaml:"message"`
	}
	type jwtT struct {
		Issuer          issuerT    `yaml:"issuer"`
		ClaimValidation []rule     `yaml:"claimValidationRules"`
		UserValidation  []userRule `yaml:"userValidationRules"`
		ClaimMappings   struct {
			Username claim `yaml:"username"`
			Groups   claim `yaml:"groups"`
			UID      struct {
				Claim string `yaml:"claim"`
			} `yaml:"uid"`
		} `yaml:"claimMappings"`
	}
	up, gp := oidc.UsernamePrefix, oidc.groupsPrefix()
	j := jwtT{
		Issuer: issuerT{URL: issuer, Audiences: []string{oidc.Audience}, CertificateAuthority: ca},
		// Only cluster credentials: an access token has another kind (and
		// audience and algorithm besides).
		ClaimValidation: []rule{{Claim: "kind", RequiredValue: "kubernetes"}},
		// The API server itself refuses the reserved names, whatever the
		// prefixes (an empty groups_prefix would otherwise let a group
		// called system:masters through).
		UserValidation: []userRule{
			{Expression: "!user.username.startsWith('system:')", Message: "the username may not use the reserved system: prefix"},
			{Expression: "user.groups.all(group, !group.startsWith('system:'))", Message: "groups may not use the reserved system: prefix"},
		},
	}
	j.ClaimMappings.Username = claim{Claim: "email", Prefix: &up}
	j.ClaimMappings.Groups = claim{Claim: "groups", Prefix: &gp}
	j.ClaimMappings.UID.Claim = "sub"
	doc := struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		JWT        []jwtT `yaml:"jwt"`
	}{"apiserver.config.k8s.io/v1", "AuthenticationConfiguration", []jwtT{j}}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("kube-auth: %w", err)
	}
	head := fmt.Sprintf("# kube-apiserver --authentication-config for app %s: the cluster trusts the\n# Airlock edge %s as the issuer of its users' credentials.\n", strings.ToLower(app), issuer)
	return append([]byte(head), out...), nil
}
