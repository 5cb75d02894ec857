package oauth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/airlockhq/airlock/internal/token"
)

// The OpenID Provider's protocol layer is zitadel/oidc's op package
// (op.RegisterServer): it routes the token, device authorization,
// revocation, discovery and JWKS endpoints, decodes their requests,
// authenticates the client (form or HTTP Basic, RFC 6749 §2.3) and writes
// answers and RFC 6749 error bodies. What each grant means stays here
// (provider's methods call the grants of tokenep.go, device.go and
// exchange.go): refresh token families with reuse detection, the apps'
// policy on every grant, EdDSA access tokens that open streams, and
// ES256 ID tokens and cluster credentials. See doc.go.

// Endpoint paths.
const (
	pathToken      = "/oauth/token"
	pathRevoke     = "/oauth/revoke"
	pathDeviceCode = "/oauth/device/code"
	pathJWKS       = "/.well-known/jwks.json"
	pathAuthorize  = "/oauth/authorize"
)

// provider is the [op.Server] of the edge: zitadel/oidc calls it with
// decoded, client-checked requests.
type provider struct {
	op.UnimplementedServer
	s *Server
}

// opHandler is zitadel/oidc's handler of the protocol endpoints, with no
// CORS (no browser script calls them).
func (s *Server) opHandler() http.Handler {
	return op.RegisterServer(&provider{s: s}, op.Endpoints{
		Token:               op.NewEndpoint(pathToken),
		Revocation:          op.NewEndpoint(pathRevoke),
		DeviceAuthorization: op.NewEndpoint(pathDeviceCode),
		JwksURI:             op.NewEndpoint(pathJWKS),
	}, op.WithServerCORSOptions(nil))
}

// request-scoped values the bounded front puts on the context: the
// client's address (for the rate limits) and the answer's header (for
// Retry-After and WWW-Authenticate on errors the library writes).
type (
	remoteAddrKey struct{}
	respHeaderKey struct{}
)

// bounded is the front of the library's handler: it reads the form with
// parseForm's bounds (size, repeated parameters, value length, content
// type) before zitadel/oidc parses it again from r.Form, and carries the
// client's address and the answer's header on the context.
func (s *Server) bounded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, perr := parseForm(r); perr != nil {
			writeError(w, perr)
			return
		}
		ctx := context.WithValue(r.Context(), remoteAddrKey{}, r.RemoteAddr)
		ctx = context.WithValue(ctx, respHeaderKey{}, w.Header())
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func remoteAddr(ctx context.Context) string {
	a, _ := ctx.Value(remoteAddrKey{}).(string)
	return a
}

// setHeader sets a header of the answer to the request of ctx.
func setHeader(ctx context.Context, k, v string) {
	if h, ok := ctx.Value(respHeaderKey{}).(http.Header); ok {
		h.Set(k, v)
	}
}

// libError turns a grant's error into the library's: a protoError keeps
// its code, description and status; anything else is a server_error
// (logged, not shown).
func (p *provider) libError(ctx context.Context, err error) error {
	var pe *protoError
	if !errors.As(err, &pe) {
		p.s.log.Error("token request failed", "err", err)
		pe = &protoError{http.StatusInternalServerError, "server_error", "the edge could not issue tokens"}
	}
	e := &oidc.Error{Description: pe.Desc}
	// oidc.Error's type is a named string the package does not export.
	reflect.ValueOf(&e.ErrorType).Elem().SetString(pe.Code)
	if pe.Code == "invalid_client" {
		setHeader(ctx, "WWW-Authenticate", `Basic realm="airlock"`)
	}
	return op.NewStatusError(e, pe.Status)
}

func (p *provider) answer(ctx context.Context, v any, err error) (*op.Response, error) {
	if err != nil {
		return nil, p.libError(ctx, err)
	}
	return op.NewResponse(v), nil
}

// Health implements [op.Server].
func (p *provider) Health(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(map[string]string{"status": "ok"}), nil
}

// Ready implements [op.Server].
func (p *provider) Ready(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(map[string]string{"status": "ok"}), nil
}

// Discovery implements [op.Server]: the OpenID Provider metadata.
func (p *provider) Discovery(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(p.s.discovery()), nil
}

// Keys implements [op.Server]: the JWKS.
func (p *provider) Keys(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	resp := op.NewResponse(p.s.keySet())
	resp.Header.Set("Cache-Control", "public, max-age=300")
	return resp, nil
}

// VerifyClient implements [op.Server]: the one public client, no secret.
func (p *provider) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	cc := r.Data
	switch {
	case cc.ClientAssertion != "":
		return nil, p.libError(ctx, &protoError{http.StatusUnauthorized, "invalid_client", "client " + ClientID + " is public: it sends no assertion"})
	case cc.ClientID != ClientID:
		return nil, p.libError(ctx, &protoError{http.StatusUnauthorized, "invalid_client", "client_id " + quote(cc.ClientID) + " is not registered (the only client is " + ClientID + ")"})
	case cc.ClientSecret != "":
		return nil, p.libError(ctx, &protoError{http.StatusUnauthorized, "invalid_client", "client " + ClientID + " is public: it has no secret"})
	}
	return publicClient{}, nil
}

// DeviceAuthorization implements [op.Server] (RFC 8628 §3.1).
func (p *provider) DeviceAuthorization(ctx context.Context, r *op.ClientRequest[oidc.DeviceAuthorizationRequest]) (*op.Response, error) {
	aud, perr := parseAudience(r.Form)
	if perr != nil {
		return nil, p.libError(ctx, perr)
	}
	resp, err := p.s.deviceAuthorize(ctx, remoteAddr(ctx), aud)
	return p.answer(ctx, resp, err)
}

// CodeExchange implements [op.Server].
func (p *provider) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	return p.grant(ctx, r.Form, p.s.grantCode)
}

// RefreshToken implements [op.Server].
func (p *provider) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	return p.grant(ctx, r.Form, p.s.grantRefresh)
}

// DeviceToken implements [op.Server] (RFC 8628 §3.4).
func (p *provider) DeviceToken(ctx context.Context, r *op.ClientRequest[oidc.DeviceAccessTokenRequest]) (*op.Response, error) {
	return p.grant(ctx, r.Form, p.s.grantDevice)
}

// TokenExchange implements [op.Server] (RFC 8693).
func (p *provider) TokenExchange(ctx context.Context, r *op.ClientRequest[oidc.TokenExchangeRequest]) (*op.Response, error) {
	return p.grant(ctx, r.Form, func(_ context.Context, f url.Values, aud []string) (*tokenResponse, error) {
		return p.s.grantExchange(f, aud)
	})
}

func (p *provider) grant(ctx context.Context, f url.Values, g func(context.Context, url.Values, []string) (*tokenResponse, error)) (*op.Response, error) {
	aud, perr := parseAudience(f)
	if perr != nil {
		return nil, p.libError(ctx, perr)
	}
	resp, err := g(ctx, f, aud)
	return p.answer(ctx, resp, err)
}

// JWTProfile implements [op.Server]: not a grant of this edge.
func (p *provider) JWTProfile(ctx context.Context, _ *op.Request[oidc.JWTProfileGrantRequest]) (*op.Response, error) {
	return nil, p.libError(ctx, unsupportedGrant(oidc.GrantTypeBearer))
}

// ClientCredentialsExchange implements [op.Server]: not a grant of this
// edge (its one client is public).
func (p *provider) ClientCredentialsExchange(ctx context.Context, _ *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	return nil, p.libError(ctx, unsupportedGrant(oidc.GrantTypeClientCredentials))
}

func unsupportedGrant(g oidc.GrantType) *protoError {
	return &protoError{http.StatusBadRequest, "unsupported_grant_type", "grant_type " + quote(string(g)) + " is not supported"}
}

// Revocation implements [op.Server] (RFC 7009).
func (p *provider) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	if err := p.s.revokeToken(ctx, r.Data.Token); err != nil {
		return nil, p.libError(ctx, err)
	}
	return op.NewResponse(nil), nil
}

// publicClient is the Airlock daemon as zitadel/oidc sees it: native,
// public, the grants of doc.go.
type publicClient struct{}

func (publicClient) GetID() string                    { return ClientID }
func (publicClient) RedirectURIs() []string           { return nil }
func (publicClient) PostLogoutRedirectURIs() []string { return nil }
func (publicClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeNative
}
func (publicClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodNone }
func (publicClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (publicClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeDeviceCode, oidc.GrantTypeTokenExchange}
}
func (publicClient) LoginURL(string) string               { return "" }
func (publicClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (publicClient) IDTokenLifetime() time.Duration       { return IDTokenTTL }
func (publicClient) DevMode() bool                        { return false }
func (publicClient) IsScopeAllowed(string) bool           { return false }
func (publicClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (publicClient) ClockSkew() time.Duration             { return 0 }
func (publicClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (publicClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// discovery is the OpenID Provider metadata (OpenID Connect Discovery
// 1.0), also served as RFC 8414 authorization server metadata.
func (s *Server) discovery() *oidc.DiscoveryConfiguration {
	base := s.cur.Load().PublicURL
	return &oidc.DiscoveryConfiguration{
		Issuer:                                 base,
		AuthorizationEndpoint:                  base + pathAuthorize,
		TokenEndpoint:                          base + pathToken,
		DeviceAuthorizationEndpoint:            base + pathDeviceCode,
		RevocationEndpoint:                     base + pathRevoke,
		JwksURI:                                base + pathJWKS,
		ScopesSupported:                        []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeProfile, oidc.ScopeOfflineAccess, scopeGroups},
		ResponseTypesSupported:                 []string{string(oidc.ResponseTypeCode)},
		ResponseModesSupported:                 []string{"query"},
		GrantTypesSupported:                    publicClient{}.GrantTypes(),
		SubjectTypesSupported:                  []string{"public"},
		IDTokenSigningAlgValuesSupported:       []string{"ES256"},
		TokenEndpointAuthMethodsSupported:      []oidc.AuthMethod{oidc.AuthMethodNone},
		RevocationEndpointAuthMethodsSupported: []oidc.AuthMethod{oidc.AuthMethodNone},
		ClaimsSupported:                        []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "azp", "email", "email_verified", "groups", "kind"},
		CodeChallengeMethodsSupported:          []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256},
		RequestParameterSupported:              false,
	}
}

// metadata serves the discovery document at the RFC 8414 path.
func (s *Server) metadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.discovery())
}

// keySet is the JWKS: every Ed25519 key that verifies access tokens, then
// the P-256 key of ID tokens and cluster credentials, then those of the
// other signing keys.
func (s *Server) keySet() *jose.JSONWebKeySet {
	st := s.cur.Load()
	set := &jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(st.Keys)+1+len(st.ClusterKeys))}
	for _, k := range st.Keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: ed25519.PublicKey(k.Key[:ed25519.PublicKeySize]), KeyID: k.ID, Algorithm: string(jose.EdDSA), Use: "sig"})
	}
	cluster := func(c *token.ClusterSigner) jose.JSONWebKey {
		return jose.JSONWebKey{Key: c.PublicKey(), KeyID: c.KeyID(), Algorithm: string(jose.ES256), Use: "sig"}
	}
	set.Keys = append(set.Keys, cluster(st.cluster))
	for _, k := range st.ClusterKeys {
		if k.KeyID() != st.cluster.KeyID() {
			set.Keys = append(set.Keys, cluster(k))
		}
	}
	return set
}

// retryAfter sets Retry-After (whole seconds, rounded up) on a 429.
func retryAfter(ctx context.Context, wait time.Duration) {
	setHeader(ctx, "Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
}
