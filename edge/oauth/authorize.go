package oauth

import (
	"fmt"
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
	if len(st.Users) == 0 && len(st.order) == 0 {
		fail("server_error", "the edge has no identity provider: add users or oidc_providers to its config")
		return
	}
	p := &pending{
		Browser: s.browserID(w, r), RedirectURI: redirect,
		State: state, Challenge: q.Get("code_challenge"), Audience: aud, ClientNonce: q.Get("nonce"),
	}
	req, serr := s.sealPending(p, s.now())
	if serr != nil {
		fail("invalid_request", serr.Error())
		return
	}
	s.startLogin(w, r, *p, req, "")
}

// startLogin shows the login page for p (sealed as req), or goes
// straight to the upstream provider when it is the only way in.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request, p pending, req, loginErr string) {
	st := s.cur.Load()
	if len(st.Users) == 0 && len(st.order) == 1 {
		s.redirectUpstream(w, r, p, "")
		return
	}
	s.render(w, http.StatusOK, "login", s.loginPage(st, p, req, "", loginErr))
}

// loginPage is the login form of p (sealed as req).
func (s *Server) loginPage(st *state, p pending, req, email, loginErr string) loginPage {
	page := loginPage{
		ReqID: req, CSRF: s.formToken("login|"+p.ID, p.Browser), Email: email, Error: loginErr,
		HasUsers: len(st.Users) > 0,
	}
	if p.isDevice() {
		page.UserCode, page.Deny = formatUserCode(p.UserCode), p.Deny
	}
	for _, u := range st.order {
		page.Upstreams = append(page.Upstreams, upstreamButton{
			URL:  "/oauth/upstream?" + url.Values{"req": {req}, "provider": {u.cfg.Name}}.Encode(),
			Name: u.cfg.Name, Display: u.cfg.displayName(),
		})
	}
	return page
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
	req := f.Get("req")
	p, ok := s.openPending(sealLogin, req, now)
	if !ok {
		s.message(w, http.StatusBadRequest, "Sign-in expired", "This sign-in is no longer open (it expired, was finished, or the edge restarted). Start again from your terminal.", "")
		return
	}
	browser := cookieBrowser(r)
	if browser != p.Browser || !s.checkFormToken("login|"+p.ID, browser, f.Get("csrf")) {
		s.message(w, http.StatusForbidden, "Sign-in refused", "The form did not come from this sign-in page in this browser (cross-site request refused). Start again from your terminal.", "")
		return
	}
	if f.Get("action") == "deny" && p.isDevice() {
		p.Deny = true // denied once the person has signed in
	}
	st := s.cur.Load()
	if len(st.Users) == 0 {
		s.message(w, http.StatusBadRequest, "No user list", "This edge signs people in through its identity provider only.", "")
		return
	}
	email := strings.ToLower(strings.TrimSpace(f.Get("email")))
	u := st.users[email]
	a := attempt{email: email, addr: addrKey(r.RemoteAddr), browser: browser, known: u != nil}
	if ok, msg := s.limits.loginAllowed(a, now); !ok {
		s.log.Warn("sign-in rate limited", "email", email, "addr", a.addr)
		s.render(w, http.StatusTooManyRequests, "login", s.loginPage(st, p, req, email, msg))
		return
	}
	hash := dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(f.Get("password"))) != nil || u == nil {
		s.limits.loginFailed(a, now)
		s.log.Info("sign-in failed: wrong email or password", "email", email, "addr", a.addr)
		s.render(w, http.StatusUnauthorized, "login", s.loginPage(st, p, req, email, "Wrong email or password."))
		return
	}
	s.limits.loginSucceeded(a, now)
	s.finish(w, r, p, localIdentity(u))
}

// dummyHash is compared against when the email is unknown, so that the
// answer takes as long as for a known one.
const dummyHash = "$2a$10$7EqJtq98hPqEX7fNZaFWoOHiA7OW5Ah4dGGu3m4yEmHz9f0bkNp4W"

// finish completes a pending sign-in for id: an authorization request
// gets a one-time code at its loopback redirect URI; a device code is
// approved. When the policy allows id none of the apps asked for, the
// redirect URI gets access_denied naming the apps and the reasons (and
// the daemon's page shows it); a device gets the edge's "Not allowed"
// page.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, p pending, id Identity) {
	if !s.finished.first(p.ID, time.Unix(p.Expires, 0), s.now()) {
		s.message(w, http.StatusBadRequest, "Sign-in already finished", "This sign-in was already completed. Start again from your terminal if you need to.", "")
		return
	}
	if p.isDevice() {
		if p.Deny {
			s.denyDevice(w, r, p, id)
			return
		}
		s.approveDevice(w, r, p, id)
		return
	}
	if d := s.refusedEverywhere(id, p.Audience); d != nil {
		redirectError(w, r, p.RedirectURI, p.State, "access_denied", d.String())
		return
	}
	code := newSecret(codePrefix)
	err := s.store.PutCode(r.Context(), key(code), Code{
		ClientID: ClientID, RedirectURI: p.RedirectURI, Challenge: p.Challenge, Nonce: p.ClientNonce,
		Identity: id, Expires: s.now().Add(CodeTTL),
	})
	if err != nil {
		s.log.Error("authorization code not stored", "err", err)
		redirectError(w, r, p.RedirectURI, p.State, "server_error", "the edge could not store the sign-in")
		return
	}
	s.log.Info("signed in", "email", id.Email, "groups", id.Groups, "idp", id.IDP, "provider", id.Provider)
	u, _ := url.Parse(p.RedirectURI) // checked
	q := u.Query()
	q.Set("code", code)
	q.Set("state", p.State)
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
