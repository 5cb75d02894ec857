package oauth

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// home points people who open the base URL to what they may want.
func (s *Server) home(w http.ResponseWriter, _ *http.Request) {
	s.message(w, http.StatusOK, "Airlock edge", "Sign in from your terminal with airlock login; to connect a device without a browser, open /device.", "")
}

// authorize starts a sign-in (RFC 6749 §4.1.1 with PKCE, RFC 7636). A
// wrong client or redirect URI is shown to the person, never redirected
// to; other errors go back to the (valid) loopback redirect URI.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q, err := parseForm(r)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Bad sign-in request", "The sign-in request is malformed.", err.Error())
		return
	}
	if id := q.Get("client_id"); id != ClientID {
		s.message(w, http.StatusBadRequest, "Unknown application", "This sign-in request does not come from Airlock.",
			fmt.Sprintf("invalid_client: client_id %q is not registered (the only client is %q)", id, ClientID))
		return
	}
	redirect := q.Get("redirect_uri")
	if err := checkRedirectURI(redirect); err != nil {
		s.message(w, http.StatusBadRequest, "Bad sign-in request", "The sign-in request names a return address this edge does not send codes to.",
			"invalid_request: "+err.Error())
		return
	}
	state := q.Get("state")
	fail := func(code, desc string) {
		redirectError(w, r, redirect, state, code, desc)
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", fmt.Sprintf("response_type %q: only code", q.Get("response_type")))
		return
	case state == "":
		fail("invalid_request", "state is missing")
		return
	}
	if err := checkChallenge(q.Get("code_challenge"), q.Get("code_challenge_method")); err != nil {
		fail("invalid_request", err.Error())
		return
	}
	aud, err := parseAudience(q)
	if err != nil {
		fail("invalid_target", err.Desc)
		return
	}
	st := s.cur.Load()
	if len(st.Users) == 0 && st.OIDC == nil {
		fail("server_error", "the edge has no identity provider: add users or oidc to its config")
		return
	}
	p := &pending{
		browser: s.browserID(w, r), clientID: ClientID, redirectURI: redirect,
		state: state, challenge: q.Get("code_challenge"), audience: aud,
	}
	if !s.pending.add(p, s.now()) {
		fail("temporarily_unavailable", "too many sign-ins in progress")
		return
	}
	s.startLogin(w, r, p, "")
}

// startLogin shows the login page for p, or goes straight to the upstream
// provider when it is the only way in.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request, p *pending, loginErr string) {
	st := s.cur.Load()
	if len(st.Users) == 0 && st.OIDC != nil {
		s.redirectUpstream(w, r, p.id, p.browser)
		return
	}
	page := loginPage{
		ReqID: p.id, CSRF: s.formToken("login|"+p.id, p.browser), Error: loginErr,
		HasUsers: len(st.Users) > 0,
	}
	if p.isDevice() {
		page.UserCode = formatUserCode(p.userCode)
	}
	if st.OIDC != nil {
		page.UpstreamURL = "/oauth/upstream?req=" + url.QueryEscape(p.id)
		page.Upstream = upstreamName(st.OIDC.Issuer)
	}
	s.render(w, http.StatusOK, "login", page)
}

// redirectError sends an authorization error to the client's redirect URI
// (RFC 6749 §4.1.2.1).
func redirectError(w http.ResponseWriter, r *http.Request, redirect, state, code, desc string) {
	u, _ := url.Parse(redirect) // checked
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// login checks the built-in user list's form.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	f, err := parseForm(r)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Bad sign-in form", "The form did not arrive whole.", err.Error())
		return
	}
	now := s.now()
	p, ok := s.pending.get(f.Get("req"), now)
	if !ok {
		s.message(w, http.StatusBadRequest, "Sign-in expired", "This sign-in is no longer open (it expired, was finished, or the edge restarted). Start again from your terminal.", "")
		return
	}
	browser := cookieBrowser(r)
	if browser != p.browser || !s.checkFormToken("login|"+p.id, browser, f.Get("csrf")) {
		s.message(w, http.StatusForbidden, "Sign-in refused", "The form did not come from this sign-in page in this browser (cross-site request refused). Start again from your terminal.", "")
		return
	}
	if f.Get("action") == "deny" && p.isDevice() {
		s.denyDevice(w, r, p)
		return
	}
	st := s.cur.Load()
	if len(st.Users) == 0 {
		s.message(w, http.StatusBadRequest, "No user list", "This edge signs people in through its identity provider only.", "")
		return
	}
	email := strings.ToLower(strings.TrimSpace(f.Get("email")))
	ip := clientIP(r)
	if blocked, until := s.limited(email, ip, now); blocked {
		s.log.Warn("sign-in rate limited", "email", email, "ip", ip)
		s.render(w, http.StatusTooManyRequests, "login", loginPage{
			ReqID: p.id, CSRF: s.formToken("login|"+p.id, p.browser), Email: email, HasUsers: true,
			Error: fmt.Sprintf("Too many failed sign-ins. Try again in %s.", until.Sub(now).Round(time.Minute)+time.Minute),
		})
		return
	}
	u := st.users[email]
	hash := dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(f.Get("password"))) != nil || u == nil {
		s.limit.fail("user|"+email+"|"+ip, now)
		s.limit.fail("ip|"+ip, now)
		s.log.Info("sign-in failed: wrong email or password", "email", email, "ip", ip)
		page := loginPage{
			ReqID: p.id, CSRF: s.formToken("login|"+p.id, p.browser), Email: email, HasUsers: true,
			Error: "Wrong email or password.",
		}
		if p.isDevice() {
			page.UserCode = formatUserCode(p.userCode)
		}
		if st.OIDC != nil {
			page.UpstreamURL, page.Upstream = "/oauth/upstream?req="+url.QueryEscape(p.id), upstreamName(st.OIDC.Issuer)
		}
		s.render(w, http.StatusUnauthorized, "login", page)
		return
	}
	s.finish(w, r, p, localIdentity(u))
}

func (s *Server) limited(email, ip string, now time.Time) (bool, time.Time) {
	if b, until := s.limit.blocked("user|"+email+"|"+ip, limitPerUser, now); b {
		return b, until
	}
	return s.limit.blocked("ip|"+ip, limitPerIP, now)
}

// dummyHash is compared against when the email is unknown, so that the
// answer takes as long as for a known one.
const dummyHash = "$2a$10$7EqJtq98hPqEX7fNZaFWoOHiA7OW5Ah4dGGu3m4yEmHz9f0bkNp4W"

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// finish completes a pending sign-in for id: an authorization request
// gets a one-time code at its loopback redirect URI; a device code is
// approved. When the policy allows id none of the apps asked for, the
// redirect URI gets access_denied naming the apps and the reasons (and
// the daemon's page shows it); a device gets the edge's "Not allowed"
// page.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, p pending, id Identity) {
	if !s.pending.take(p.id) {
		s.message(w, http.StatusBadRequest, "Sign-in already finished", "This sign-in was already completed. Start again from your terminal if you need to.", "")
		return
	}
	if p.isDevice() {
		s.approveDevice(w, r, p, id)
		return
	}
	if d := s.refusedEverywhere(id, p.audience); d != nil {
		redirectError(w, r, p.redirectURI, p.state, "access_denied", d.String())
		return
	}
	code := newSecret(codePrefix)
	err := s.store.PutCode(r.Context(), key(code), Code{
		ClientID: p.clientID, RedirectURI: p.redirectURI, Challenge: p.challenge,
		Identity: id, Expires: s.now().Add(CodeTTL),
	})
	if err != nil {
		s.log.Error("authorization code not stored", "err", err)
		redirectError(w, r, p.redirectURI, p.state, "server_error", "the edge could not store the sign-in")
		return
	}
	s.log.Info("signed in", "email", id.Email, "idp", id.IDP)
	u, _ := url.Parse(p.redirectURI) // checked
	q := u.Query()
	q.Set("code", code)
	q.Set("state", p.state)
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// Secret prefixes make leaked secrets recognisable.
const (
	codePrefix    = "alc_"
	refreshPrefix = "alr_"
	devicePrefix  = "ald_"
)

func upstreamName(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return u.Hostname()
	}
	return "your identity provider"
}
