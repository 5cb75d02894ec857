package oauth_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/token"
	"github.com/airlockhq/airlock/internal/wire"
)

const (
	tokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	accessType    = "urn:ietf:params:oauth:token-type:access_token"
)

func (f *fixture) narrow(tb testing.TB, subject string, apps ...string) (int, map[string]any) {
	tb.Helper()
	return f.postForm(tb, "/oauth/token", url.Values{"client_id": {"airlock"}, "grant_type": {tokenExchange},
		"subject_token": {subject}, "subject_token_type": {accessType}, "audience": apps})
}

// TestTokenExchange: a token for every app narrows to one (RFC 8693), so
// that a token sent on a stream opens that app at most (issue 10, item 1).
func TestTokenExchange(t *testing.T) {
	f := newFixture(t)
	broad := f.signIn(t, alice, alicePW) // every app
	st, body := f.narrow(t, broad.AccessToken, app)
	if st != http.StatusOK || body["issued_token_type"] != accessType || body["refresh_token"] != nil {
		t.Fatalf("%d %v", st, body)
	}
	narrow := body["access_token"].(string)
	wantAud(t, narrow, []string{app})
	bc, nc := parseClaims(t, broad.AccessToken), parseClaims(t, narrow)
	if nc["fam"] != bc["fam"] || nc["iat"] != bc["iat"] || nc["exp"].(float64) > bc["exp"].(float64) || nc["email"] != alice {
		t.Fatalf("narrowed %v from %v", nc, bc)
	}
	if err := f.stream(t, app, narrow); err != nil {
		t.Fatalf("the narrowed token on its app: %v", err)
	}
	// The audit line names the apps the stream's token opens: this one.
	f.e.WaitAudit(t, func(r edge.AuditRecord) bool {
		return r.App == app && r.Outcome == "ok" && slices.Equal(r.TokenAudience, []string{app})
	})
	wantRefused(t, f.stream(t, otherApp, narrow), wire.CodeUnauthenticated, "another audience")

	service, err := f.e.Signer().Mint(token.KindService, app, "ci@example.com", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	one := f.signIn(t, alice, alicePW, app)
	for _, tc := range []struct {
		name   string
		form   url.Values
		code   string
		naming string
	}{
		{"wider than the subject", url.Values{"subject_token": {one.AccessToken}, "audience": {otherApp}}, "invalid_grant", "another audience"},
		{"no app named", url.Values{"subject_token": {broad.AccessToken}}, "invalid_target", "audience"},
		{"a service token", url.Values{"subject_token": {service}, "audience": {app}}, "invalid_grant", "only access tokens"},
		{"not a token", url.Values{"subject_token": {"x.y.z"}, "audience": {app}}, "invalid_grant", "subject_token"},
		{"wrong subject type", url.Values{"subject_token": {broad.AccessToken}, "audience": {app}, "subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}, "invalid_request", "subject_token_type"},
		{"an actor", url.Values{"subject_token": {broad.AccessToken}, "audience": {app}, "actor_token": {"a"}}, "invalid_request", "delegate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"client_id": {"airlock"}, "grant_type": {tokenExchange}, "subject_token_type": {accessType}}
			for k, v := range tc.form {
				form[k] = v
			}
			st, body := f.postForm(t, "/oauth/token", form)
			if st != http.StatusBadRequest || body["error"] != tc.code || !strings.Contains(body["error_description"].(string), tc.naming) {
				t.Fatalf("%d %v, want %s naming %q", st, body, tc.code, tc.naming)
			}
		})
	}

	t.Run("revoked sign-in", func(t *testing.T) {
		if st, body := f.postForm(t, "/oauth/revoke", url.Values{"client_id": {"airlock"}, "token": {broad.RefreshToken}}); st != http.StatusOK {
			t.Fatalf("revoke: %d %v", st, body)
		}
		if st, body := f.narrow(t, broad.AccessToken, app); st != http.StatusBadRequest || body["error"] != "invalid_grant" || !strings.Contains(body["error_description"].(string), "revoked") {
			t.Fatalf("%d %v", st, body)
		}
		wantRefused(t, f.stream(t, app, narrow), wire.CodeUnauthenticated, "revoked")
	})
}
