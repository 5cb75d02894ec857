package oauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/wire"
)

const (
	idType   = "urn:ietf:params:oauth:token-type:id_token"
	kubeAud  = "kubernetes:demo"
	kubeAuth = "kubernetes"
)

func (f *fixture) clusterCredential(tb testing.TB, subject string, apps ...string) (int, map[string]any) {
	tb.Helper()
	return f.postForm(tb, "/oauth/token", url.Values{"client_id": {"airlock"}, "grant_type": {tokenExchange},
		"subject_token": {subject}, "subject_token_type": {accessType}, "requested_token_type": {idType}, "audience": apps})
}

// getJSON fetches a JSON document from the sign-in server.
func (f *fixture) getJSON(tb testing.TB, u string, into any) {
	tb.Helper()
	res, err := f.e.HTTPClient().Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s", u, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(into); err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
}

// clusterKey finds the ES256 key through the OpenID discovery document, as
// a kube-apiserver does.
func (f *fixture) clusterKey(tb testing.TB) (string, *ecdsa.PublicKey) {
	tb.Helper()
	var disc map[string]any
	f.getJSON(tb, f.e.OAuthURL+"/.well-known/openid-configuration", &disc)
	if disc["issuer"] != f.e.OAuthURL {
		tb.Fatalf("discovery issuer %v, want %s", disc["issuer"], f.e.OAuthURL)
	}
	if algs, _ := disc["id_token_signing_alg_values_supported"].([]any); len(algs) != 1 || algs[0] != "ES256" {
		tb.Fatalf("id_token_signing_alg_values_supported %v", disc["id_token_signing_alg_values_supported"])
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	f.getJSON(tb, disc["jwks_uri"].(string), &set)
	for _, k := range set.Keys {
		if k["kty"] == "EC" && k["alg"] == "ES256" {
			x, _ := base64.RawURLEncoding.DecodeString(k["x"])
			y, _ := base64.RawURLEncoding.DecodeString(k["y"])
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
			if err != nil {
				tb.Fatalf("JWKS key %s: %v", k["kid"], err)
			}
			return k["kid"], pub
		}
	}
	tb.Fatalf("no ES256 key in the JWKS %v", set.Keys)
	return "", nil
}

// TestClusterCredential: a token exchange for an app whose cluster trusts
// the edge as its OIDC issuer answers a short-lived ES256 credential for
// that cluster alone (issue 13 item 3); it opens no stream, and a stream
// token is not one.
func TestClusterCredential(t *testing.T) {
	f := newFixture(t)
	f.e.UpdateConfig(t, func(c *edge.Config) error {
		for i := range c.Apps {
			if c.Apps[i].Hostname == app {
				c.Apps[i].Kubernetes = &edge.AppKubernetes{OIDC: &edge.KubeOIDC{Audience: kubeAud}}
			}
		}
		return nil
	})
	signIn := f.signIn(t, alice, alicePW) // every app
	st, body := f.clusterCredential(t, signIn.AccessToken, app)
	if st != http.StatusOK || body["issued_token_type"] != idType || body["refresh_token"] != nil {
		t.Fatalf("%d %v", st, body)
	}
	cred := body["access_token"].(string)
	if ttl := body["expires_in"].(float64); ttl <= 0 || ttl > 300 {
		t.Errorf("expires_in %v, want (0, 300]", ttl)
	}

	t.Run("the API server's check passes", func(t *testing.T) {
		kid, pub := f.clusterKey(t)
		var c struct {
			jwt.RegisteredClaims
			Email  string   `json:"email"`
			Groups []string `json:"groups"`
			Kind   string   `json:"kind"`
		}
		p := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(f.e.OAuthURL), jwt.WithAudience(kubeAud), jwt.WithExpirationRequired())
		tok, err := p.ParseWithClaims(cred, &c, func(*jwt.Token) (any, error) { return pub, nil })
		if err != nil {
			t.Fatal(err)
		}
		if tok.Header["kid"] != kid {
			t.Errorf("kid %v, JWKS %s", tok.Header["kid"], kid)
		}
		if len(c.Audience) != 1 || c.Email != alice || len(c.Groups) != 1 || c.Groups[0] != "sre" || c.Kind != kubeAuth || c.Subject == "" {
			t.Errorf("claims %+v", c)
		}
		if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life > 5*time.Minute || life <= 0 {
			t.Errorf("lifetime %s", life)
		}
	})
	t.Run("never opens a stream", func(t *testing.T) {
		wantRefused(t, f.stream(t, app, cred), wire.CodeUnauthenticated, "EdDSA")
	})
	t.Run("a stream token is not a cluster credential", func(t *testing.T) {
		_, body := f.narrow(t, signIn.AccessToken, app)
		streamTok := body["access_token"].(string)
		if err := f.stream(t, app, streamTok); err != nil {
			t.Fatal(err)
		}
		c := parseClaims(t, streamTok)
		if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != app || c["kind"] != "access" {
			t.Fatalf("stream token claims %v", c)
		}
		if streamTok == cred || strings.Contains(cred, streamTok) {
			t.Fatal("the cluster credential is the stream token")
		}
	})
	for _, tc := range []struct {
		name   string
		apps   []string
		code   string
		naming string
	}{
		{"an app without Kubernetes identity", []string{otherApp}, "invalid_target", "no Kubernetes OIDC identity"},
		{"two apps", []string{app, otherApp}, "invalid_target", "one app"},
		{"no app", nil, "invalid_target", "one app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := f.clusterCredential(t, signIn.AccessToken, tc.apps...)
			if st != http.StatusBadRequest || body["error"] != tc.code || !strings.Contains(body["error_description"].(string), tc.naming) {
				t.Fatalf("%d %v, want %s naming %q", st, body, tc.code, tc.naming)
			}
		})
	}
	t.Run("only for a person the policy allows", func(t *testing.T) {
		f.e.SetPolicy(t, app, edge.Policy{Allow: edge.Rule{Emails: []string{"bob@example.com"}}})
		st, body := f.clusterCredential(t, signIn.AccessToken, app)
		if st != http.StatusBadRequest || body["error"] == nil {
			t.Fatalf("%d %v", st, body)
		}
	})
}
