package oauth_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

func TestMetadataAndJWKS(t *testing.T) {
	f := newFixture(t)
	res, err := f.e.HTTPClient().Get(f.e.OAuthURL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	json.NewDecoder(res.Body).Decode(&md)
	res.Body.Close()
	base := f.e.OAuthURL
	for k, want := range map[string]string{
		"issuer": base, "authorization_endpoint": base + "/oauth/authorize", "token_endpoint": base + "/oauth/token",
		"device_authorization_endpoint": base + "/oauth/device/code", "revocation_endpoint": base + "/oauth/revoke",
		"jwks_uri": base + "/.well-known/jwks.json",
	} {
		if md[k] != want {
			t.Errorf("metadata %s = %v, want %s", k, md[k], want)
		}
	}
	if m, _ := md["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
		t.Errorf("code_challenge_methods_supported = %v", md["code_challenge_methods_supported"])
	}

	res, err = f.e.HTTPClient().Get(md["jwks_uri"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	keys := f.e.Keys()
	// The Ed25519 keys, then the ES256 key of cluster credentials.
	if len(set.Keys) != len(keys)+1 || set.Keys[len(keys)]["kty"] != "EC" || set.Keys[0]["kid"] != keys[0].ID || set.Keys[0]["kty"] != "OKP" || set.Keys[0]["crv"] != "Ed25519" {
		t.Fatalf("jwks %v, keys %v", set.Keys, keys)
	}
	x, _ := base64.RawURLEncoding.DecodeString(set.Keys[0]["x"])
	if !ed25519.PublicKey(x).Equal(keys[0].Key) {
		t.Fatal("jwks x is not the signing key")
	}
}

func TestSignInRoundTrip(t *testing.T) {
	f := newFixture(t)
	tok := f.signIn(t, alice, alicePW, app)
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 10*time.Minute {
		t.Fatalf("token %+v", tok)
	}
	if aud, _ := tok.Extra("audience").([]any); len(aud) != 1 || aud[0] != app {
		t.Fatalf("audience %v", tok.Extra("audience"))
	}
	claims := parseClaims(t, tok.AccessToken)
	if claims["email"] != alice || claims["kind"] != "access" || claims["fam"] == "" || claims["idp"] != "users" || claims["sub"] != alice {
		t.Fatalf("claims %v", claims)
	}
	if g, _ := claims["groups"].([]any); len(g) != 1 || g[0] != "sre" {
		t.Fatalf("groups %v", claims["groups"])
	}
	if err := f.stream(t, app, tok.AccessToken); err != nil {
		t.Fatalf("stream with the access token: %v", err)
	}
	// Rotation: a new refresh token each time; the new access token works.
	next, err := f.refresh(t, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == tok.RefreshToken || next.AccessToken == tok.AccessToken {
		t.Fatal("refresh did not rotate")
	}
	if parseClaims(t, next.AccessToken)["fam"] != claims["fam"] {
		t.Fatal("refresh changed the family")
	}
	if err := f.stream(t, app, next.AccessToken); err != nil {
		t.Fatal(err)
	}
	// Tokens survive an edge restart: the family is in the store.
	f.e.Restart(t)
	f.conn = f.e.DialClient(t)
	after, err := f.refresh(t, next.RefreshToken)
	if err != nil {
		t.Fatalf("refresh after an edge restart: %v", err)
	}
	_ = after
}

func TestAudience(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		apps []string
		want []string
		err  string
	}{
		{"one app", []string{app}, []string{app}, ""},
		{"none means every app", nil, []string{app, otherApp}, ""},
		{"space separated, with an unknown one", []string{otherApp + " nope.test"}, []string{otherApp}, ""},
		{"only unknown", []string{"nope.test"}, nil, "invalid_target"},
		{"not a hostname", []string{"bad host!"}, nil, "invalid_target"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier := f.code(t, alice, alicePW)
			tok, err := f.exchange(t, code, verifier, tc.apps...)
			if tc.err != "" {
				if c, _ := oauthError(t, err); c != tc.err {
					t.Fatalf("error %q, want %q", c, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			aud, _ := parseClaims(t, tok.AccessToken)["aud"].([]any)
			if len(aud) != len(tc.want) {
				t.Fatalf("aud %v, want %v", aud, tc.want)
			}
			for i := range aud {
				if aud[i] != tc.want[i] {
					t.Fatalf("aud %v, want %v", aud, tc.want)
				}
			}
		})
	}
}

// TestBadInput is the refusal matrix: each case is refused with a named
// cause, and the edge keeps serving.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	signer := f.e.Signer()
	kid := signer.PublicKey().ID
	_, otherKey, _ := ed25519.GenerateKey(nil)
	claims := func(mod func(*jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "airlock-edge", "sub": alice, "email": alice, "aud": []string{app}, "kind": "access",
			"idp": "users", "fam": "x", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	sign := func(method jwt.SigningMethod, c jwt.MapClaims, key any) string {
		tk := jwt.NewWithClaims(method, c)
		tk.Header["kid"] = kid
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("tokens", func(t *testing.T) {
		good := f.signIn(t, alice, alicePW, app)
		expired, err := signer.Sign(token.Claims{Subject: alice, Email: alice, Audience: []string{app}, Kind: token.KindAccess,
			IDP: "users", IssuedAt: time.Now().Add(-2 * time.Hour), NotBefore: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, app, tok string
			code           wire.Code
			msg            string
		}{
			{"forged signature", app, sign(jwt.SigningMethodEdDSA, claims(nil), otherKey), wire.CodeUnauthenticated, "signature does not verify"},
			{"expired", app, expired, wire.CodeUnauthenticated, "expired"},
			{"wrong audience", otherApp, good.AccessToken, wire.CodeUnauthenticated, "another audience"},
			{"alg none", app, sign(jwt.SigningMethodNone, claims(nil), jwt.UnsafeAllowNoneSignatureType), wire.CodeUnauthenticated, `"none"`},
			{"no token", app, "", wire.CodeUnauthenticated, "no token"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantRefused(t, f.stream(t, tc.app, tc.tok), tc.code, tc.msg)
			})
		}
	})

	t.Run("replayed code", func(t *testing.T) {
		code, verifier := f.code(t, alice, alicePW, app)
		first, err := f.exchange(t, code, verifier, app)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.exchange(t, code, verifier, app)
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "already used") {
			t.Fatalf("replay: %s %s", c, d)
		}
		// What the code issued is revoked.
		wantRefused(t, f.stream(t, app, first.AccessToken), wire.CodeUnauthenticated, "revoked")
		_, err = f.refresh(t, first.RefreshToken)
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "revoked") {
			t.Fatalf("refresh after replay: %s %s", c, d)
		}
	})

	t.Run("PKCE verifier mismatch", func(t *testing.T) {
		code, _ := f.code(t, alice, alicePW, app)
		_, err := f.exchange(t, code, oauth2.GenerateVerifier(), app)
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "code_verifier does not match") {
			t.Fatalf("%s %s", c, d)
		}
	})

	t.Run("redirect_uri mismatch at the token endpoint", func(t *testing.T) {
		code, verifier := f.code(t, alice, alicePW, app)
		cfg := f.config()
		cfg.RedirectURL = "http://127.0.0.1:1/other"
		_, err := cfg.Exchange(f.ctx(t), code, oauth2.VerifierOption(verifier))
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "redirect_uri differs") {
			t.Fatalf("%s %s", c, d)
		}
	})

	t.Run("unknown code", func(t *testing.T) {
		_, err := f.exchange(t, "alc_nope", oauth2.GenerateVerifier(), app)
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "unknown") {
			t.Fatalf("%s %s", c, d)
		}
	})

	authorize := func(t *testing.T, mod func(url.Values)) *http.Response {
		t.Helper()
		u, _, _ := f.authURL(app)
		pu, _ := url.Parse(u)
		q := pu.Query()
		mod(q)
		pu.RawQuery = q.Encode()
		res, err := f.noRedirect().Get(pu.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	t.Run("authorize refusals redirected", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			mod  func(url.Values)
			msg  string
		}{
			{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, `"plain" is refused`},
			{"no PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "refused"},
			{"no state", func(q url.Values) { q.Del("state") }, "state is missing"},
			{"response_type token", func(q url.Values) { q.Set("response_type", "token") }, "only code"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := authorize(t, tc.mod)
				loc, err := res.Location()
				if res.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), f.cb.URL()) {
					t.Fatalf("%s, location %v", res.Status, loc)
				}
				if loc.Query().Get("code") != "" || loc.Query().Get("error") == "" || !strings.Contains(loc.Query().Get("error_description"), tc.msg) {
					t.Fatalf("redirect %v, want an error naming %q", loc.Query(), tc.msg)
				}
			})
		}
	})
	t.Run("authorize refusals never redirected", func(t *testing.T) {
		for _, tc := range []struct {
			name, redirect, msg string
		}{
			{"https elsewhere", "https://evil.example/cb", "loopback"},
			{"http elsewhere", "http://evil.example:8080/cb", "not a loopback address"},
			{"localhost", "http://localhost:8080/cb", "not a loopback address"},
			{"no port", "http://127.0.0.1/cb", "no port"},
			{"user info", "http://127.0.0.1:80@evil.example:8080/cb", "user info"},
			{"fragment", "http://127.0.0.1:8080/cb#x", "fragment"},
			{"other loopback", "http://127.0.0.2:8080/cb", "not a loopback address"},
			{"missing", "", "missing"},
			{"unknown client", "client:evil", "not registered"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := authorize(t, func(q url.Values) {
					if c, ok := strings.CutPrefix(tc.redirect, "client:"); ok {
						q.Set("client_id", c)
						return
					}
					q.Set("redirect_uri", tc.redirect)
				})
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
					t.Fatalf("%s, location %q", res.Status, res.Header.Get("Location"))
				}
				if !strings.Contains(string(body), tc.msg) {
					t.Fatalf("page does not name %q:\n%s", tc.msg, body)
				}
			})
		}
	})

	t.Run("state echoed only to the registered redirect", func(t *testing.T) {
		// The daemon checks state; the edge must hand the code, with the
		// state it was given, only to the redirect URI of the request.
		code, _ := f.code(t, alice, alicePW, app) // checks state and redirect
		if code == "" {
			t.Fatal("no code")
		}
	})

	t.Run("revoked refresh token", func(t *testing.T) {
		tok := f.signIn(t, alice, alicePW, app)
		st, body := f.postForm(t, "/oauth/revoke", url.Values{"client_id": {"airlock"}, "token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}})
		if st != http.StatusOK {
			t.Fatalf("revoke: %d %v", st, body)
		}
		_, err := f.refresh(t, tok.RefreshToken)
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "revoked") {
			t.Fatalf("%s %s", c, d)
		}
		wantRefused(t, f.stream(t, app, tok.AccessToken), wire.CodeUnauthenticated, "revoked")
		// Unknown tokens: 200 (RFC 7009); access tokens: unsupported.
		if st, _ := f.postForm(t, "/oauth/revoke", url.Values{"client_id": {"airlock"}, "token": {"alr_unknown"}}); st != http.StatusOK {
			t.Fatalf("unknown token: %d", st)
		}
		if st, body := f.postForm(t, "/oauth/revoke", url.Values{"client_id": {"airlock"}, "token": {tok.AccessToken}}); st != http.StatusBadRequest || body["error"] != "unsupported_token_type" {
			t.Fatalf("access token: %d %v", st, body)
		}
	})

	t.Run("rotated refresh token reused", func(t *testing.T) {
		tok := f.signIn(t, alice, alicePW, app)
		next, err := f.refresh(t, tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.refresh(t, tok.RefreshToken) // the old one again
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "already used") {
			t.Fatalf("%s %s", c, d)
		}
		// The whole family is gone: the newest refresh token and the
		// access tokens too.
		_, err = f.refresh(t, next.RefreshToken)
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "revoked") {
			t.Fatalf("newest refresh token: %s %s", c, d)
		}
		wantRefused(t, f.stream(t, app, next.AccessToken), wire.CodeUnauthenticated, "revoked")
	})

	t.Run("wrong password", func(t *testing.T) {
		u, _, _ := f.authURL(app)
		b := f.browser(t)
		req, csrf := loginForm(t, b, u)
		st, body := postLogin(t, b, f.e.OAuthURL, req, csrf, alice, "wrong password")
		if st != http.StatusUnauthorized || !strings.Contains(body, "Wrong email or password") {
			t.Fatalf("%d\n%s", st, body)
		}
		st, body = postLogin(t, b, f.e.OAuthURL, req, csrf, "nobody@example.com", alicePW)
		if st != http.StatusUnauthorized || !strings.Contains(body, "Wrong email or password") {
			t.Fatalf("unknown user: %d\n%s", st, body)
		}
	})

	t.Run("login CSRF", func(t *testing.T) {
		u, _, _ := f.authURL(app)
		b := f.browser(t)
		req, _ := loginForm(t, b, u)
		st, body := postLogin(t, b, f.e.OAuthURL, req, "forged", alice, alicePW)
		if st != http.StatusForbidden || !strings.Contains(body, "cross-site") {
			t.Fatalf("forged csrf: %d\n%s", st, body)
		}
		// Another browser (no cookie) with the right form fields.
		_, csrf := loginForm(t, b, u)
		st, body = postLogin(t, f.browser(t), f.e.OAuthURL, req, csrf, alice, alicePW)
		if st != http.StatusForbidden {
			t.Fatalf("other browser: %d\n%s", st, body)
		}
	})

	t.Run("user removed mid-session", func(t *testing.T) {
		f.e.AddUser(t, "bob@example.com", "bob password 1")
		tok := f.signIn(t, "bob@example.com", "bob password 1", app)
		if err := f.stream(t, app, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		f.e.RemoveUser(t, "bob@example.com")
		wantRefused(t, f.stream(t, app, tok.AccessToken), wire.CodeForbidden, "no longer in the edge's user list")
		_, err := f.refresh(t, tok.RefreshToken)
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "no longer") {
			t.Fatalf("%s %s", c, d)
		}
	})

	t.Run("user revoked", func(t *testing.T) {
		f.e.AddUser(t, "carol@example.com", "carol password")
		tok := f.signIn(t, "carol@example.com", "carol password", app)
		f.e.RevokeUser(t, "carol@example.com")
		wantRefused(t, f.stream(t, app, tok.AccessToken), wire.CodeUnauthenticated, "revoked")
		_, err := f.refresh(t, tok.RefreshToken)
		if c, d := oauthError(t, err); c != "invalid_grant" || !strings.Contains(d, "revoked") {
			t.Fatalf("%s %s", c, d)
		}
		// Signing in again works.
		again := f.signIn(t, "carol@example.com", "carol password", app)
		if err := f.stream(t, app, again.AccessToken); err != nil {
			t.Fatalf("after signing in again: %v", err)
		}
	})

	t.Run("token endpoint refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			form   url.Values
			status int
			code   string
		}{
			{"unknown client", url.Values{"client_id": {"evil"}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}}, 401, "invalid_client"},
			{"no grant", url.Values{"client_id": {"airlock"}}, 400, "invalid_request"},
			{"password grant", url.Values{"client_id": {"airlock"}, "grant_type": {"password"}}, 400, "unsupported_grant_type"},
			{"JWT bearer grant", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"x.y.z"}}, 400, "unsupported_grant_type"},
			{"client credentials grant", url.Values{"client_id": {"airlock"}, "grant_type": {"client_credentials"}}, 400, "unauthorized_client"},
			{"client secret", url.Values{"client_id": {"airlock"}, "client_secret": {"s"}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}}, 401, "invalid_client"},
			{"no client", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, 400, "invalid_request"},
			{"repeated code", url.Values{"client_id": {"airlock"}, "grant_type": {"authorization_code"}, "code": {"a", "b"}}, 400, "invalid_request"},
			{"unknown refresh token", url.Values{"client_id": {"airlock"}, "grant_type": {"refresh_token"}, "refresh_token": {"alr_x"}}, 400, "invalid_grant"},
			{"unknown device code", url.Values{"client_id": {"airlock"}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {"ald_x"}}, 400, "invalid_grant"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, body := f.postForm(t, "/oauth/token", tc.form)
				if st != tc.status || body["error"] != tc.code || body["error_description"] == "" {
					t.Fatalf("%d %v, want %d %s", st, body, tc.status, tc.code)
				}
			})
		}
	})

	// The edge still serves.
	if err := f.stream(t, app, f.signIn(t, alice, alicePW, app).AccessToken); err != nil {
		t.Fatalf("after the matrix: %v", err)
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t)
	u, _, _ := f.authURL(app)
	b := f.browser(t)
	req, csrf := loginForm(t, b, u)
	for i := range 5 {
		if st, _ := postLogin(t, b, f.e.OAuthURL, req, csrf, alice, "wrong password"); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	st, body := postLogin(t, b, f.e.OAuthURL, req, csrf, alice, alicePW)
	if st != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("after 5 failures: %d\n%s", st, body)
	}
}

func TestKeyRotationKeepsSessions(t *testing.T) {
	f := newFixture(t)
	before := f.signIn(t, alice, alicePW, app)
	rotateKey(t, f)
	if err := f.stream(t, app, before.AccessToken); err != nil {
		t.Fatalf("a token of the old key after rotation: %v", err)
	}
	next, err := f.refresh(t, before.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	kid := jwtHeader(t, next.AccessToken)["kid"]
	if kid != f.e.Keys()[0].ID || kid == jwtHeader(t, before.AccessToken)["kid"] {
		t.Fatalf("new token signed by %v; keys %v", kid, f.e.Keys())
	}
	if err := f.stream(t, app, next.AccessToken); err != nil {
		t.Fatal(err)
	}
	res, err := f.e.HTTPClient().Get(f.e.OAuthURL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]string }
	json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	if len(set.Keys) != 4 { // both Ed25519 keys and both ES256 keys of cluster credentials
		t.Fatalf("jwks after rotation has %d keys", len(set.Keys))
	}
}

func parseClaims(tb testing.TB, tok string) map[string]any {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func jwtHeader(tb testing.TB, tok string) map[string]any {
	tb.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}
