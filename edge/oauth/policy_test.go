package oauth_test

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/wire"
)

const (
	bob        = "bob@example.com" // denied otherApp by a deny rule
	bobPW      = "bob password 12"
	mallory    = "mallory@elsewhere.test" // outside every app's policy
	malloryPW  = "mallory password 1"
	domainRule = "(policy: email domains)"
)

// newPolicyFixture is newFixture with bob, whom otherApp's deny rule
// refuses, and mallory, whom no app allows.
func newPolicyFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := newFixture(tb)
	f.e.AddUser(tb, bob, bobPW)
	f.e.AddUser(tb, mallory, malloryPW)
	f.e.SetPolicy(tb, otherApp, edge.Policy{
		Allow: edge.Rule{EmailDomains: []string{"example.com"}},
		Deny:  edge.Rule{Emails: []string{bob}},
	})
	return f
}

// policyCases are the sign-ins of the authorization code and device
// flows: who asks for which apps, and the apps the token names, or the
// texts access_denied's description must hold.
var policyCases = []struct {
	name        string
	email, pw   string
	apps        []string
	want        []string
	deniedNames []string
}{
	{"allowed both, asks for none", alice, alicePW, nil, []string{app, otherApp}, nil},
	{"allowed both, asks for one", alice, alicePW, []string{otherApp}, []string{otherApp}, nil},
	{"allowed one of two, asks for none", bob, bobPW, nil, []string{app}, nil},
	{"allowed one of two, asks for both", bob, bobPW, []string{app, otherApp}, []string{app}, nil},
	{"denied the one asked for", bob, bobPW, []string{otherApp}, nil,
		[]string{"You (" + bob + ") are not allowed to use " + otherApp, "deny rule (email " + bob + ")", "Ask your administrator"}},
	{"allowed none", mallory, malloryPW, nil, nil,
		[]string{"You (" + mallory + ") are not allowed to use " + app + ", " + otherApp, "not allowed to reach app " + app + " " + domainRule, "not allowed to reach app " + otherApp + " " + domainRule}},
}

// asked is apps as the helpers' audience arguments: x/oauth2's
// SetAuthURLParam keeps only the last of repeated parameters, so several
// apps go space separated in one.
func asked(apps []string) []string {
	if len(apps) == 0 {
		return nil
	}
	return []string{strings.Join(apps, " ")}
}

func wantAud(tb testing.TB, tok string, want []string) {
	tb.Helper()
	raw, _ := parseClaims(tb, tok)["aud"].([]any)
	var got []string
	for _, a := range raw {
		got = append(got, a.(string))
	}
	if !slices.Equal(got, want) {
		tb.Fatalf("aud %v, want exactly %v", got, want)
	}
}

func wantNames(tb testing.TB, what, text string, names []string) {
	tb.Helper()
	for _, n := range names {
		if !strings.Contains(text, n) {
			tb.Fatalf("%s %q does not name %q", what, text, n)
		}
	}
}

func TestPolicyAtAuthorization(t *testing.T) {
	f := newPolicyFixture(t)
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.deniedNames == nil {
				tok := f.signIn(t, tc.email, tc.pw, asked(tc.apps)...)
				wantAud(t, tok.AccessToken, tc.want)
				for _, a := range tc.want {
					if err := f.stream(t, a, tok.AccessToken); err != nil {
						t.Fatalf("stream to %s: %v", a, err)
					}
				}
				return
			}
			u, state, _ := f.authURL(asked(tc.apps)...)
			b := f.browser(t)
			req, csrf := loginForm(t, b, u)
			if st, body := postLogin(t, b, f.e.OAuthURL, req, csrf, tc.email, tc.pw); st != http.StatusOK {
				t.Fatalf("login: %d\n%s", st, body)
			}
			q := f.cb.wait(t, 10*time.Second)
			if q.Get("state") != state || q.Get("code") != "" || q.Get("error") != "access_denied" {
				t.Fatalf("callback %v, want access_denied with the state and no code", q)
			}
			wantNames(t, "error_description", q.Get("error_description"), tc.deniedNames)
		})
	}

	t.Run("audience that is not a hostname", func(t *testing.T) {
		u, state, _ := f.authURL("bad host!")
		res, err := f.noRedirect().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc, err := res.Location()
		if err != nil {
			t.Fatalf("%s: %v", res.Status, err)
		}
		q := loc.Query()
		if q.Get("error") != "invalid_target" || q.Get("state") != state || !strings.Contains(q.Get("error_description"), "bad") {
			t.Fatalf("redirect %s, want invalid_target", loc)
		}
	})

	t.Run("policy changed between code and exchange", func(t *testing.T) {
		code, verifier := f.code(t, bob, bobPW, app)
		f.e.SetPolicy(t, app, edge.Policy{Allow: edge.Rule{Emails: []string{alice}}})
		defer f.e.SetPolicy(t, app, edge.Policy{Allow: edge.Rule{EmailDomains: []string{"example.com"}}})
		_, err := f.exchange(t, code, verifier, app)
		c, d := oauthError(t, err)
		if c != "access_denied" {
			t.Fatalf("error %q (%s), want access_denied", c, d)
		}
		wantNames(t, "error_description", d, []string{bob, app, "(policy: emails)"})
	})
}

func TestPolicyAtDeviceApproval(t *testing.T) {
	f := newPolicyFixture(t)
	for _, tc := range policyCases {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"client_id": {"airlock"}}
			if len(tc.apps) > 0 {
				form.Set("audience", strings.Join(tc.apps, " "))
			}
			st, da := f.postForm(t, "/oauth/device/code", form)
			if st != http.StatusOK {
				t.Fatalf("device code: %d %v", st, da)
			}
			b := f.browser(t)
			csrf := deviceForm(t, b, f.e.OAuthURL+"/device")
			res, err := b.PostForm(f.e.OAuthURL+"/device", url.Values{"csrf": {csrf}, "user_code": {da["user_code"].(string)}, "action": {"continue"}})
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			m1, m2 := reqField.FindSubmatch(page), csrfField.FindSubmatch(page)
			if m1 == nil || m2 == nil {
				t.Fatalf("no login page for the device:\n%s", page)
			}
			st, out := postLogin(t, b, f.e.OAuthURL, string(m1[1]), string(m2[1]), tc.email, tc.pw)
			st2, body := f.pollDevice(t, da["device_code"].(string))
			if tc.deniedNames == nil {
				if st != http.StatusOK || !strings.Contains(out, "Device connected") {
					t.Fatalf("login: %d\n%s", st, out)
				}
				if st2 != http.StatusOK {
					t.Fatalf("poll: %d %v", st2, body)
				}
				wantAud(t, body["access_token"].(string), tc.want)
				return
			}
			if st != http.StatusForbidden || !strings.Contains(out, "Not allowed") {
				t.Fatalf("login: %d, want 403 Not allowed\n%s", st, out)
			}
			wantNames(t, "the page", out, append([]string{"Ask your administrator"}, tc.deniedNames...))
			if st2 != http.StatusBadRequest || body["error"] != "access_denied" {
				t.Fatalf("poll: %d %v, want access_denied", st2, body)
			}
			desc, _ := body["error_description"].(string)
			wantNames(t, "error_description", desc, tc.deniedNames)
			// Answered once; then the device code is gone.
			if st, body := f.pollDevice(t, da["device_code"].(string)); st != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("poll again: %d %v", st, body)
			}
		})
	}
}

func TestPolicyAtRefresh(t *testing.T) {
	f := newPolicyFixture(t)
	f.e.AddUser(t, "dave@example.com", "dave password 1")
	tok := f.signIn(t, "dave@example.com", "dave password 1")
	wantAud(t, tok.AccessToken, []string{app, otherApp})

	// Removed from one app: the next token names the other only.
	f.e.SetPolicy(t, otherApp, edge.Policy{Allow: edge.Rule{Emails: []string{alice}}})
	next, err := f.refresh(t, tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh after removal from one app: %v", err)
	}
	wantAud(t, next.AccessToken, []string{app})
	// The access token issued before still names otherApp: the stream
	// check refuses it at once.
	wantRefused(t, f.stream(t, otherApp, tok.AccessToken), wire.CodeForbidden, "not allowed to reach app "+otherApp)

	// Removed from every app: invalid_grant naming the cause; the sign-in
	// is revoked.
	f.e.SetPolicy(t, app, edge.Policy{Allow: edge.Rule{Groups: []string{"sre"}}})
	_, err = f.refresh(t, next.RefreshToken)
	c, d := oauthError(t, err)
	if c != "invalid_grant" {
		t.Fatalf("error %q (%s), want invalid_grant", c, d)
	}
	wantNames(t, "error_description", d, []string{"no longer allows dave@example.com", app, otherApp, "(policy: groups)", "(policy: emails)", "revoked"})
	wantRefused(t, f.stream(t, app, next.AccessToken), wire.CodeUnauthenticated, "revoked")

	// Allowed again: the revoked sign-in stays revoked; a new one works.
	f.e.SetPolicy(t, app, edge.Policy{Allow: edge.Rule{EmailDomains: []string{"example.com"}}})
	if _, err := f.refresh(t, next.RefreshToken); err == nil {
		t.Fatal("the revoked sign-in refreshed")
	}
	again := f.signIn(t, "dave@example.com", "dave password 1")
	wantAud(t, again.AccessToken, []string{app})
}
