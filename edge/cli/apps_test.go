package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/airlockhq/airlock/edge"
)

// TestAppKubeAuth: app kube-auth prints the AuthenticationConfiguration
// that trusts the edge for the app's cluster credentials; an app without
// a kubernetes.oidc section, an unknown app and an audience that is an app
// hostname are refused with the cause.
func TestAppKubeAuth(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustRun(t, "", "init", "--dir", dir)
	mustRun(t, "", "tunnel", "create", "demo", "--hostname", "k8s.demo.test", "--hostname", "k8s.other.test", "--allow-email-domain", "example.com", "--dir", dir)
	cfgPath := filepath.Join(dir, "config.yaml")
	setAudience := func(aud string) error {
		_, err := edge.UpdateConfig(cfgPath, func(c *edge.Config) error {
			c.Apps[0].Kubernetes = &edge.AppKubernetes{OIDC: &edge.KubeOIDC{Audience: aud}}
			return nil
		})
		return err
	}
	if err := setAudience("k8s.other.test"); err == nil || !strings.Contains(err.Error(), "is an app hostname") {
		t.Fatalf("an app hostname as audience: %v", err)
	}
	if err := setAudience("kubernetes:demo"); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "", "app", "kube-auth", "k8s.demo.test", "--dir", dir, "--issuer", "https://edge.example.com:7843/")
	var doc struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		JWT        []struct {
			Issuer struct {
				URL                  string   `yaml:"url"`
				Audiences            []string `yaml:"audiences"`
				CertificateAuthority string   `yaml:"certificateAuthority"`
			} `yaml:"issuer"`
			ClaimValidationRules []map[string]string `yaml:"claimValidationRules"`
			UserValidationRules  []map[string]string `yaml:"userValidationRules"`
			ClaimMappings        struct {
				Username map[string]string `yaml:"username"`
				Groups   map[string]string `yaml:"groups"`
			} `yaml:"claimMappings"`
		} `yaml:"jwt"`
	}
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	j := doc.JWT
	switch {
	case doc.APIVersion != "apiserver.config.k8s.io/v1" || doc.Kind != "AuthenticationConfiguration" || len(j) != 1:
		t.Fatalf("document\n%s", out)
	case j[0].Issuer.URL != "https://edge.example.com:7843" || len(j[0].Issuer.Audiences) != 1 || j[0].Issuer.Audiences[0] != "kubernetes:demo":
		t.Fatalf("issuer\n%s", out)
	case j[0].Issuer.CertificateAuthority != string(ca):
		t.Fatalf("certificateAuthority is not the edge CA\n%s", out)
	case j[0].ClaimMappings.Username["claim"] != "email" || j[0].ClaimMappings.Username["prefix"] != "":
		t.Fatalf("username mapping\n%s", out)
	case j[0].ClaimMappings.Groups["claim"] != "groups" || j[0].ClaimMappings.Groups["prefix"] != "airlock:":
		t.Fatalf("groups mapping\n%s", out)
	case len(j[0].ClaimValidationRules) != 1 || j[0].ClaimValidationRules[0]["claim"] != "kind" || j[0].ClaimValidationRules[0]["requiredValue"] != "kubernetes":
		t.Fatalf("claim validation\n%s", out)
	case len(j[0].UserValidationRules) != 2 || !strings.Contains(j[0].UserValidationRules[0]["expression"], "user.username.startsWith('system:')") ||
		!strings.Contains(j[0].UserValidationRules[1]["expression"], "user.groups.all(group, !group.startsWith('system:'))"):
		t.Fatalf("user validation: the reserved system: names must be refused by the API server\n%s", out)
	}

	for _, tc := range []struct {
		name, app, naming string
	}{
		{"no kubernetes section", "k8s.other.test", "no kubernetes.oidc section"},
		{"unknown app", "nope.test", "no app nope.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, "", "app", "kube-auth", tc.app, "--dir", dir)
			if code != 1 || !strings.Contains(errOut, tc.naming) {
				t.Fatalf("exit %d, stderr %q, want naming %q", code, errOut, tc.naming)
			}
		})
	}
}
