package oauth_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/airlockhq/airlock/internal/wire"
)

// rp is a relying party built on github.com/coreos/go-oidc, an OpenID
// Connect client library independent of the one the edge is built on: it
// discovers the edge from its issuer URL alone and verifies ID tokens the
// way any OIDC client would.
func (f *fixture) rp(tb testing.TB) (*oidc.Provider, *oidc.IDTokenVerifier) {
	tb.Helper()
	ctx := oidc.ClientContext(f.ctx(tb), f.e.HTTPClient())
	p, err := oidc.NewProvider(ctx, f.e.OAuthURL)
	if err != nil {
		tb.Fatalf("discovery: %v", err)
	}
	return p, p.Verifier(&oidc.Config{ClientID: "airlock", SupportedSigningAlgs: []string{oidc.ES256}})
}

// idClaims are the ID token claims a relying party reads.
type idClaims struct {
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Groups        []string `json:"groups"`
	Kind          string   `json:"kind"`
	AuthTime      int64    `json:"auth_time"`
	AZP           string   `json:"azp"`
}

// TestOIDCConformance: go-oidc, as a relying party, discovers the edge
// and verifies the ID tokens of the code, refresh and device grants
// (issuer, audience, signature through the JWKS, expiry, nonce, at_hash),
// and the claims it reads are the person's (issue 11 item 1).
func TestOIDCConformance(t *testing.T) {
	f := newFixture(t)
	p, verifier := f.rp(t)
	ctx := oidc.ClientContext(f.ctx(t), f.e.HTTPClient())

	var disc struct {
		Issuer         string   `json:"issuer"`
		Auth           string   `json:"authorization_endpoint"`
		Token          string   `json:"token_endpoint"`
		Device         string   `json:"device_authorization_endpoint"`
		JWKS           string   `json:"jwks_uri"`
		Scopes         []string `json:"scopes_supported"`
		ResponseTypes  []string `json:"response_types_supported"`
		Subjects       []string `json:"subject_types_supported"`
		Algs           []string `json:"id_token_signing_alg_values_supported"`
		Claims         []string `json:"claims_supported"`
		Challenge      []string `json:"code_challenge_methods_supported"`
		TokenAuth      []string `json:"token_endpoint_auth_methods_supported"`
		GrantTypes     []string `json:"grant_types_supported"`
		RevocationPath string   `json:"revocation_endpoint"`
	}
	if err := p.Claims(&disc); err != nil {
		t.Fatal(err)
	}
	base := f.e.OAuthURL
	t.Run("discovery", func(t *testing.T) {
		if disc.Issuer != base || disc.Auth != base+"/oauth/authorize" || disc.Token != base+"/oauth/token" ||
			disc.Device != base+"/oauth/device/code" || disc.JWKS != base+"/.well-known/jwks.json" || disc.RevocationPath != base+"/oauth/revoke" {
			t.Fatalf("endpoints %+v", disc)
		}
		for name, got := range map[string][]string{
			"scopes_supported openid": disc.Scopes, "response_types_supported code": disc.ResponseTypes,
			"subject_types_supported public": disc.Subjects, "id_token_signing_alg_values_supported ES256": disc.Algs,
			"claims_supported groups": disc.Claims, "code_challenge_methods_supported S256": disc.Challenge,
			"token_endpoint_auth_methods_supported none":                         disc.TokenAuth,
			"grant_types_supported urn:ietf:params:oauth:grant-type:device_code": disc.GrantTypes,
		} {
			want := name[strings.LastIndexByte(name, ' ')+1:]
			if !slices.Contains(got, want) {
				t.Errorf("%s: got %v", name, got)
			}
		}
		if slices.Contains(disc.Challenge, "plain") {
			t.Errorf("plain PKCE offered: %v", disc.Challenge)
		}
	})

	cfg := f.config()
	cfg.Endpoint = p.Endpoint()
	cfg.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	cfg.Scopes = []string{oidc.ScopeOpenID, "email", "groups"}
	verifierPKCE, state, nonce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	b := f.browser(t)
	req, csrf := loginForm(t, b, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifierPKCE), oidc.Nonce(nonce), oauth2.SetAuthURLParam("audience", app)))
	before := time.Now().Add(-time.Second)
	if st, body := postLogin(t, b, base, req, csrf, alice, alicePW); st != http.StatusOK {
		t.Fatalf("login: %d\n%s", st, body)
	}
	q := f.cb.wait(t, 10*time.Second)
	if q.Get("state") != state {
		t.Fatalf("state %q, want %q", q.Get("state"), state)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifierPKCE), oauth2.SetAuthURLParam("audience", app))
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, tok *oauth2.Token, wantNonce string) *oidc.IDToken {
		t.Helper()
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			t.Fatal("no id_token in the token answer")
		}
		idt, err := verifier.Verify(ctx, raw)
		if err != nil {
			t.Fatalf("go-oidc refuses the ID token: %v", err)
		}
		if idt.Issuer != base || !slices.Equal(idt.Audience, []string{"airlock"}) || idt.Subject != alice || idt.Nonce != wantNonce {
			t.Fatalf("ID token iss %s aud %v sub %s nonce %q", idt.Issuer, idt.Audience, idt.Subject, idt.Nonce)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		var c idClaims
		if err := idt.Claims(&c); err != nil {
			t.Fatal(err)
		}
		if c.Email != alice || !c.EmailVerified || !slices.Equal(c.Groups, []string{"sre"}) || c.Kind != "id" || c.AZP != "airlock" {
			t.Fatalf("claims %+v", c)
		}
		if at := time.Unix(c.AuthTime, 0); at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
			t.Fatalf("auth_time %s, signed in after %s", at, before)
		}
		return idt
	}
	t.Run("code grant", func(t *testing.T) { check(t, tok, nonce) })
	t.Run("refresh", func(t *testing.T) {
		next, err := f.refresh(t, tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		check(t, next, "")
	})
	t.Run("wrong audience refused", func(t *testing.T) {
		raw, _ := tok.Extra("id_token").(string)
		other := p.Verifier(&oidc.Config{ClientID: "kubernetes"})
		if _, err := other.Verify(ctx, raw); err == nil {
			t.Fatal("an ID token for airlock verified for another client")
		}
	})
	t.Run("an ID token opens no stream", func(t *testing.T) {
		raw, _ := tok.Extra("id_token").(string)
		if err := f.stream(t, app, raw); err == nil {
			t.Fatal("the ID token opened a stream")
		} else {
			var ee *wire.Error
			if !errors.As(err, &ee) {
				t.Fatalf("stream: %v", err)
			}
		}
	})
	t.Run("device grant", func(t *testing.T) {
		da, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("audience", app))
		if err != nil {
			t.Fatal(err)
		}
		b := f.browser(t)
		csrf := deviceForm(t, b, da.VerificationURIComplete)
		res, err := b.PostForm(base+"/device", url.Values{"csrf": {csrf}, "user_code": {da.UserCode}, "action": {"continue"}})
		if err != nil {
			t.Fatal(err)
		}
		pageBytes, _ := io.ReadAll(res.Body)
		res.Body.Close()
		page := string(pageBytes)
		m1, m2 := reqField.FindStringSubmatch(page), csrfField.FindStringSubmatch(page)
		if m1 == nil || m2 == nil {
			t.Fatalf("no login form:\n%s", page)
		}
		if st, body := postLogin(t, b, base, m1[1], m2[1], alice, alicePW); st != http.StatusOK {
			t.Fatalf("login: %d\n%s", st, body)
		}
		st, body := f.pollDevice(t, da.DeviceCode)
		if st != http.StatusOK {
			t.Fatalf("poll: %d %v", st, body)
		}
		raw, _ := body["id_token"].(string)
		access, _ := body["access_token"].(string)
		check(t, (&oauth2.Token{AccessToken: access}).WithExtra(map[string]any{"id_token": raw}), "")
	})
}
