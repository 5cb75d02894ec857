package oauth_test

import (
	"net/http"
	"testing"
)

// BenchmarkSignInRoundTrip is one whole sign-in on loopback with the
// built-in user list: authorize, the login page, the login form (one
// bcrypt comparison at the default cost), the redirect to the loopback
// callback, and the code exchanged for tokens at the token endpoint.
func BenchmarkSignInRoundTrip(b *testing.B) {
	f := newFixture(b)
	browser := f.browser(b)
	b.ReportAllocs()
	for b.Loop() {
		u, _, verifier := f.authURL(app)
		req, csrf := loginForm(b, browser, u)
		if st, body := postLogin(b, browser, f.e.OAuthURL, req, csrf, alice, alicePW); st != http.StatusOK {
			b.Fatalf("login: %d %s", st, body)
		}
		q := f.cb.wait(b, 10e9)
		if _, err := f.exchange(b, q.Get("code"), verifier, app); err != nil {
			b.Fatal(err)
		}
	}
}
