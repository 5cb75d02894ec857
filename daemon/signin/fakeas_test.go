package signin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAS is a small OAuth 2.0 authorization server for the state machine's
// unit tests (the end-to-end tests use the real edge): authorization code
// with PKCE S256, rotating refresh tokens with reuse detection, the device
// grant and revocation, all for client "airlock".
type fakeAS struct {
	srv *httptest.Server
	ttl time.Duration

	mu        sync.Mutex
	user      string // who signs in
	deny      string // when set, /authorize refuses with this description
	denyCode  string // the error code of deny (default access_denied)
	codes     map[string]codeRec
	refresh   map[string]*family // live refresh token → family
	used      map[string]*family // rotated-out refresh tokens
	devices   map[string]*deviceRec
	issued    []string // every token issued (access and refresh), to grep logs
	exchanges int
	refreshes int
	revoked   int
	audiences []string
	failToken bool // /token answers 503
}

type codeRec struct {
	challenge, redirect, audience string
	used                          bool
}

type family struct {
	user, audience string
	revoked        bool
}

type deviceRec struct {
	userCode, audience string
	approved, denied   bool
}

func newFakeAS(tb testing.TB) *fakeAS {
	as := &fakeAS{
		ttl: time.Hour, user: "alice@example.com",
		codes: map[string]codeRec{}, refresh: map[string]*family{}, used: map[string]*family{}, devices: map[string]*deviceRec{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+MetadataPath, as.metadata)
	mux.HandleFunc("GET /authorize", as.authorize)
	mux.HandleFunc("POST /token", as.token)
	mux.HandleFunc("POST /device", as.device)
	mux.HandleFunc("POST /revoke", as.revoke)
	as.srv = httptest.NewTLSServer(mux)
	tb.Cleanup(as.srv.Close)
	return as
}

func (as *fakeAS) url() string { return as.srv.URL }

func (as *fakeAS) metadata(w http.ResponseWriter, r *http.Request) {
	u := as.srv.URL
	json.NewEncoder(w).Encode(map[string]string{
		"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
		"device_authorization_endpoint": u + "/device", "revocation_endpoint": u + "/revoke", "jwks_uri": u + "/jwks",
	})
}

func (as *fakeAS) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	host := ""
	if err == nil {
		host, _, _ = net.SplitHostPort(redirect.Host)
	}
	switch {
	case q.Get("client_id") != ClientID, err != nil, redirect.Scheme != "http", host != "127.0.0.1":
		http.Error(w, "bad client or redirect", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256", q.Get("code_challenge") == "", q.Get("state") == "", q.Get("response_type") != "code":
		http.Error(w, "PKCE S256 and state are required", http.StatusBadRequest)
		return
	}
	as.mu.Lock()
	deny, denyCode := as.deny, as.denyCode
	if denyCode == "" {
		denyCode = "access_denied"
	}
	code := randomString()
	as.codes[code] = codeRec{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), audience: q.Get("audience")}
	as.mu.Unlock()
	v := url.Values{"state": {q.Get("state")}}
	if deny != "" {
		v.Set("error", denyCode)
		v.Set("error_description", deny)
	} else {
		v.Set("code", code)
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+v.Encode(), http.StatusFound)
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (as *fakeAS) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.failToken {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if r.PostForm.Get("client_id") != ClientID {
		oauthErr(w, 401, "invalid_client", "unknown client")
		return
	}
	aud := r.PostForm.Get("audience")
	as.audiences = append(as.audiences, aud)
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		c, ok := as.codes[code]
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		switch {
		case !ok || c.used:
			oauthErr(w, 400, "invalid_grant", "unknown or used code")
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge:
			oauthErr(w, 400, "invalid_grant", "PKCE verifier mismatch")
			return
		case r.PostForm.Get("redirect_uri") != c.redirect:
			oauthErr(w, 400, "invalid_grant", "redirect_uri mismatch")
			return
		}
		c.used = true
		as.codes[code] = c
		as.exchanges++
		as.issueLocked(w, &family{user: as.user, audience: aud})
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		if f, ok := as.used[rt]; ok {
			f.revoked = true
			oauthErr(w, 400, "invalid_grant", "refresh token reused: family revoked")
			return
		}
		f, ok := as.refresh[rt]
		if !ok || f.revoked {
			oauthErr(w, 400, "invalid_grant", "refresh token revoked")
			return
		}
		delete(as.refresh, rt)
		as.used[rt] = f
		as.refreshes++
		as.issueLocked(w, f)
	case "urn:ietf:params:oauth:grant-type:device_code":
		d, ok := as.devices[r.PostForm.Get("device_code")]
		switch {
		case !ok:
			oauthErr(w, 400, "invalid_grant", "unknown device code")
		case d.denied:
			oauthErr(w, 400, "access_denied", "the user said no")
		case !d.approved:
			oauthErr(w, 400, "authorization_pending", "")
		default:
			delete(as.devices, r.PostForm.Get("device_code"))
			as.exchanges++
			as.issueLocked(w, &family{user: as.user, audience: d.audience})
		}
	default:
		oauthErr(w, 400, "unsupported_grant_type", "")
	}
}

func (as *fakeAS) issueLocked(w http.ResponseWriter, f *family) {
	exp := time.Now().Add(as.ttl)
	payload, _ := json.Marshal(map[string]any{"email": f.user, "sub": f.user, "aud": strings.Fields(f.audience), "exp": exp.Unix()})
	access := "eyJhbGciOiJFZERTQSJ9." + base64.RawURLEncoding.EncodeToString(payload) + "." + randomString()
	rt := "rt-" + randomString()
	as.refresh[rt] = f
	as.issued = append(as.issued, access, rt)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": access, "token_type": "Bearer", "refresh_token": rt, "expires_in": int(as.ttl.Seconds()),
	})
}

func (as *fakeAS) device(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	as.mu.Lock()
	defer as.mu.Unlock()
	dc, uc := randomString(), fmt.Sprintf("WDJB-%04d", len(as.devices)+1000)
	as.devices[dc] = &deviceRec{userCode: uc, audience: r.PostForm.Get("audience")}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"device_code": dc, "user_code": uc, "verification_uri": as.srv.URL + "/device/verify",
		"verification_uri_complete": as.srv.URL + "/device/verify?user_code=" + uc, "expires_in": 600, "interval": 1,
	})
}

// approve approves (or denies) the pending device code uc.
func (as *fakeAS) approve(uc string, ok bool) bool {
	as.mu.Lock()
	defer as.mu.Unlock()
	for _, d := range as.devices {
		if d.userCode == uc {
			d.approved, d.denied = ok, !ok
			return true
		}
	}
	return false
}

func (as *fakeAS) revoke(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	as.mu.Lock()
	defer as.mu.Unlock()
	if f, ok := as.refresh[r.PostForm.Get("token")]; ok {
		f.revoked = true
		as.revoked++
	}
	w.WriteHeader(http.StatusOK)
}

// revokeAll revokes every live refresh token family.
func (as *fakeAS) revokeAll() {
	as.mu.Lock()
	defer as.mu.Unlock()
	for _, f := range as.refresh {
		f.revoked = true
	}
}

func (as *fakeAS) stats() (exchanges, refreshes, revoked int) {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.exchanges, as.refreshes, as.revoked
}

func (as *fakeAS) tokens() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return append([]string(nil), as.issued...)
}

// testBrowser follows the authorization URL like a browser whose user
// signs in at once: GET /authorize, then the redirect to the loopback
// callback. It records every URL it was asked to open.
type testBrowser struct {
	as     *fakeAS
	mu     sync.Mutex
	opened []string
	pages  []string
	hold   chan struct{} // when set, sign-in waits for it
	fail   error         // when set, Open fails
	wg     sync.WaitGroup
}

func (b *testBrowser) Open(_ context.Context, u string) error {
	b.mu.Lock()
	b.opened = append(b.opened, u)
	hold, fail := b.hold, b.fail
	b.mu.Unlock()
	if fail != nil {
		return fail
	}
	b.wg.Go(func() {
		if hold != nil {
			<-hold
		}
		b.follow(u)
	})
	return nil
}

func (b *testBrowser) follow(u string) {
	c := *b.as.srv.Client() // a copy: several sign-ins may follow at once
	hc := &c
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Get(u)
	if err != nil {
		return
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if loc == "" {
		return
	}
	resp, err = http.Get(loc) // the loopback callback: plain HTTP
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var sb strings.Builder
	io.Copy(&sb, resp.Body)
	b.mu.Lock()
	b.pages = append(b.pages, sb.String())
	b.mu.Unlock()
}

func (b *testBrowser) opens() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.opened...)
}

func (b *testBrowser) lastPage() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pages) == 0 {
		return ""
	}
	return b.pages[len(b.pages)-1]
}
