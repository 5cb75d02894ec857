package oauth

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/token"
)

// ClusterTTL is the lifetime of a cluster credential, never longer than
// the sign-in token it was exchanged for.
const ClusterTTL = 5 * time.Minute

// grantCluster answers a token exchange for one app with
// requested_token_type id_token: a cluster credential for the Kubernetes
// API server behind the app, which trusts this edge as its OIDC issuer.
// Its aud is that cluster's audience alone, iss the public URL (the
// discovery document's issuer), and it is signed ES256 with the key in
// the JWKS that kube-apiserver accepts; it opens no stream (another
// algorithm, kind and audience than access tokens).
func (s *Server) grantCluster(f url.Values, aud []string) (*tokenResponse, error) {
	if len(aud) != 1 {
		return nil, &protoError{http.StatusBadRequest, "invalid_target", fmt.Sprintf("a cluster credential is for one app; %d named", len(aud))}
	}
	st, c, allowed, err := s.exchangeSubject(f, aud)
	if err != nil {
		return nil, err
	}
	kubeAud, ok := st.KubeAudiences[allowed[0]]
	if !ok {
		return nil, &protoError{http.StatusBadRequest, "invalid_target", fmt.Sprintf("app %s has no Kubernetes OIDC identity (kubernetes.oidc.audience in the edge config)", allowed[0])}
	}
	now := s.now().Truncate(time.Second)
	exp := now.Add(ClusterTTL)
	if c.ExpiresAt.Before(exp) {
		exp = c.ExpiresAt
	}
	tok, err := st.cluster.Sign(token.ClusterClaims{
		Issuer: st.PublicURL, Audience: kubeAud, Subject: c.Subject, Email: c.Email,
		Groups: clusterGroups(c.Groups), IssuedAt: now, ExpiresAt: exp,
	})
	if err != nil {
		return nil, fmt.Errorf("sign the cluster credential: %w", err)
	}
	return &tokenResponse{
		AccessToken: tok, IssuedTokenType: tokenTypeID, TokenType: "Bearer",
		ExpiresIn: int(exp.Sub(now) / time.Second), Audience: []string{kubeAud},
	}, nil
}

// clusterGroups is groups without any named like a cluster's reserved
// ones (system:…): with an empty groups_prefix such a group would reach
// the API server as the group itself. The AuthenticationConfiguration
// refuses them as well (userValidationRules).
func clusterGroups(groups []string) []string {
	out := make([]string, 0, len(groups))
	for _, g := range groups {
		if !strings.HasPrefix(g, "system:") {
			out = append(out, g)
		}
	}
	return out
}
