package oauth_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

var deviceCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// deviceForm opens the verification URI and returns the form's token.
func deviceForm(tb testing.TB, b *http.Client, u string) string {
	tb.Helper()
	res, err := b.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := deviceCSRF.FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		tb.Fatalf("GET %s: %s\n%s", u, res.Status, body)
	}
	return string(m[1])
}

func submitDevice(tb testing.TB, b *http.Client, base, csrf, code, action string) (int, string) {
	tb.Helper()
	res, err := b.PostForm(base+"/device", url.Values{"csrf": {csrf}, "user_code": {code}, "action": {action}})
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, string(body)
}

func (f *fixture) pollDevice(tb testing.TB, dc string) (int, map[string]any) {
	return f.postForm(tb, "/oauth/token", url.Values{"client_id": {"airlock"}, "grant_type": {deviceGrant}, "device_code": {dc}})
}

func TestDeviceFlow(t *testing.T) {
	f := newFixture(t)
	// The daemon's side, with golang.org/x/oauth2.
	da, err := f.config().DeviceAuth(f.ctx(t), oauth2.SetAuthURLParam("audience", app))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[B-Z]{4}-[B-Z]{4}$`).MatchString(da.UserCode) || da.VerificationURI != f.e.OAuthURL+"/device" ||
		!strings.HasSuffix(da.VerificationURIComplete, "?user_code="+da.UserCode) || da.Interval != 5 {
		t.Fatalf("device auth %+v", da)
	}
	st, body := f.pollDevice(t, da.DeviceCode)
	if st != http.StatusBadRequest || body["error"] != "authorization_pending" {
		t.Fatalf("first poll: %d %v", st, body)
	}
	st, body = f.pollDevice(t, da.DeviceCode)
	if st != http.StatusBadRequest || body["error"] != "slow_down" {
		t.Fatalf("a poll too soon: %d %v", st, body)
	}

	// The person: the verification page, the code typed in lower case
	// without the dash, then the login page.
	b := f.browser(t)
	csrf := deviceForm(t, b, da.VerificationURIComplete)
	res, err := b.PostForm(f.e.OAuthURL+"/device", url.Values{"csrf": {csrf}, "user_code": {strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))}, "action": {"continue"}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m1, m2 := reqField.FindSubmatch(page), csrfField.FindSubmatch(page)
	if m1 == nil || m2 == nil || !strings.Contains(string(page), da.UserCode) {
		t.Fatalf("no login page for the device:\n%s", page)
	}
	st2, out := postLogin(t, b, f.e.OAuthURL, string(m1[1]), string(m2[1]), alice, alicePW)
	if st2 != http.StatusOK || !strings.Contains(out, "Device connected") {
		t.Fatalf("login: %d\n%s", st2, out)
	}

	// The daemon's next poll gets the tokens (x/oauth2 polls itself).
	tok, err := f.config().DeviceAccessToken(f.ctx(t), da, oauth2.SetAuthURLParam("audience", app))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.stream(t, app, tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	// One-time.
	st, body = f.pollDevice(t, da.DeviceCode)
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("the device code again: %d %v", st, body)
	}
}

func TestDeviceDenied(t *testing.T) {
	f := newFixture(t)
	st, da := f.postForm(t, "/oauth/device/code", url.Values{"client_id": {"airlock"}, "audience": {app}})
	if st != http.StatusOK {
		t.Fatalf("%d %v", st, da)
	}
	b := f.browser(t)
	csrf := deviceForm(t, b, f.e.OAuthURL+"/device")
	if st, body := submitDevice(t, b, f.e.OAuthURL, csrf, "BBBB-BBBB", "continue"); st != http.StatusBadRequest || !strings.Contains(body, "No device is waiting") {
		t.Fatalf("unknown code: %d\n%s", st, body)
	}
	if st, body := submitDevice(t, b, f.e.OAuthURL, csrf, "AEIO-1234", "continue"); st != http.StatusBadRequest || !strings.Contains(body, "not a device code") {
		t.Fatalf("malformed code: %d\n%s", st, body)
	}
	if st, body := submitDevice(t, f.browser(t), f.e.OAuthURL, csrf, da["user_code"].(string), "continue"); st != http.StatusForbidden {
		t.Fatalf("another browser with this form token: %d\n%s", st, body)
	}
	// Denying takes a signed-in person: whoever guessed a code cannot
	// deny it.
	st, body := submitDevice(t, b, f.e.OAuthURL, csrf, da["user_code"].(string), "deny")
	m1, m2 := reqField.FindStringSubmatch(body), csrfField.FindStringSubmatch(body)
	if st != http.StatusOK || m1 == nil || m2 == nil || !strings.Contains(body, "Sign in to deny device") {
		t.Fatalf("deny: %d\n%s", st, body)
	}
	if st, body := postLoginAction(t, b, f.e.OAuthURL, m1[1], m2[1], alice, "wrong password", "deny"); st != http.StatusUnauthorized {
		t.Fatalf("deny with a wrong password: %d\n%s", st, body)
	}
	if st, body := f.pollDevice(t, da["device_code"].(string)); st != http.StatusBadRequest || body["error"] != "authorization_pending" {
		t.Fatalf("poll after a deny without signing in: %d %v", st, body)
	}
	if st, body := postLoginAction(t, b, f.e.OAuthURL, m1[1], m2[1], alice, alicePW, "deny"); st != http.StatusOK || !strings.Contains(body, "Device denied") {
		t.Fatalf("deny signed in: %d\n%s", st, body)
	}
	st, poll := f.pollDevice(t, da["device_code"].(string))
	if st != http.StatusBadRequest || poll["error"] != "access_denied" {
		t.Fatalf("poll after deny: %d %v", st, poll)
	}
	if st, body := f.postForm(t, "/oauth/device/code", url.Values{"client_id": {"airlock"}, "audience": {"nope.test"}}); st != http.StatusBadRequest || body["error"] != "invalid_target" {
		t.Fatalf("device code for an unknown app: %d %v", st, body)
	}
}
