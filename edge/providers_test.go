package edge

import (
	"path/filepath"
	"testing"

	"github.com/airlockhq/airlock/edge/oauth"
)

// TestSignInProviders: the single oidc section is the provider "oidc",
// file paths resolve against the config's folder, and the providers are
// asked for groups when a policy or a cluster identity uses them.
func TestSignInProviders(t *testing.T) {
	c := &Config{dir: "/etc/airlock", OIDC: &oauth.OIDCConfig{Issuer: "https://idp.test", ClientID: "x", ClientSecretFile: "secret", CAFile: "/abs/ca.pem"}}
	ps := c.providers()
	if len(ps) != 1 || ps[0].Name != oauth.DefaultProviderName || ps[0].ClientSecretFile != filepath.Join("/etc/airlock", "secret") || ps[0].CAFile != "/abs/ca.pem" {
		t.Fatalf("providers %+v", ps)
	}
	if c.OIDC.Name != "" || c.OIDC.ClientSecretFile != "secret" {
		t.Fatalf("the config itself was changed: %+v", c.OIDC)
	}
	for _, tc := range []struct {
		name string
		apps []App
		want bool
	}{
		{"no apps", nil, false},
		{"email policy", []App{{Hostname: "a.test", Policy: Policy{Allow: Rule{Emails: []string{"a@b.test"}}}}}, false},
		{"allowed groups", []App{{Hostname: "a.test", Policy: Policy{Allow: Rule{Groups: []string{"sre"}}}}}, true},
		{"denied groups", []App{{Hostname: "a.test", Policy: Policy{Deny: Rule{Groups: []string{"contractors"}}}}}, true},
		{"cluster identity", []App{{Hostname: "a.test", Kubernetes: &AppKubernetes{OIDC: &KubeOIDC{Audience: "k"}}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&Config{Apps: tc.apps}).groupsUsed(); got != tc.want {
				t.Fatalf("groupsUsed = %v, want %v", got, tc.want)
			}
		})
	}
}
