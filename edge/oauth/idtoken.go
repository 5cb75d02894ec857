package oauth

import (
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// IDTokenTTL is the lifetime of an ID token.
const IDTokenTTL = time.Hour

// scopeGroups asks for the groups claim (it is always there).
const scopeGroups = "groups"

// kindID is the "kind" claim of an ID token: neither the per-stream check
// (EdDSA, kind access or service) nor a cluster (kind kubernetes, its own
// audience) takes one.
const kindID = "id"

// idToken is the OpenID Connect ID token of a sign-in of id (zitadel/oidc's
// claims, signed ES256 with the key of cluster credentials, which the
// discovery document names): aud the client, the nonce of the
// authorization request, auth_time when the person signed in, at_hash of
// the access token, email (verified: the built-in list and upstream
// providers are trusted for it only when verified), groups and kind "id".
func (st *state) idToken(id Identity, nonce, accessToken string, authTime, now time.Time) (string, error) {
	c := oidc.NewIDTokenClaims(st.PublicURL, id.Subject, nil, now.Add(IDTokenTTL), authTime, nonce, "", nil, ClientID, 0)
	c.IssuedAt, c.NotBefore = oidc.FromTime(now), oidc.FromTime(now)
	c.ClientID = ""
	c.JWTID = newSecret("")[:22]
	c.Email, c.EmailVerified = id.Email, true
	hash, err := oidc.ClaimHash(accessToken, jose.ES256)
	if err != nil {
		return "", fmt.Errorf("ID token: %w", err)
	}
	c.AccessTokenHash = hash
	groups := id.Groups
	if groups == nil {
		groups = []string{}
	}
	c.Claims = map[string]any{"groups": groups, "kind": kindID, "idp": id.IDP}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("ID token: %w", err)
	}
	tok, err := st.cluster.SignJSON(payload)
	if err != nil {
		return "", fmt.Errorf("ID token: %w", err)
	}
	return tok, nil
}
