package oauth

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	inReq  = regexp.MustCompile(`name="req" value="([^"]+)"`)
	inCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// authorizeQuery is a valid authorization request for the test server.
func authorizeQuery(redirect string) url.Values {
	return url.Values{
		"client_id": {ClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"state": {newSecret("")}, "code_challenge": {s256(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"},
		"audience": {"k8s.demo.test"},
	}
}

// serveFrom runs one request through h as if it came from addr.
func serveFrom(h http.Handler, r *http.Request, addr string) *httptest.ResponseRecorder {
	r.RemoteAddr = addr
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// clientFrom is an HTTPS client of hs with a cookie jar whose connections
// leave from the loopback address src, not following redirects.
func clientFrom(tb testing.TB, hs *httptest.Server, src string) *http.Client {
	tb.Helper()
	c := hs.Client()
	tr := c.Transport.(*http.Transport).Clone()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	tr.DialContext = d.DialContext
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signInFrom runs a real browser sign-in of alice from src and returns the
// redirect the login form answered with.
func signInFrom(tb testing.TB, hs *httptest.Server, src, redirect string) *url.URL {
	tb.Helper()
	c := clientFrom(tb, hs, src)
	res, err := c.Get(hs.URL + "/oauth/authorize?" + authorizeQuery(redirect).Encode())
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m1, m2 := inReq.FindSubmatch(body), inCSRF.FindSubmatch(body)
	if res.StatusCode != http.StatusOK || m1 == nil || m2 == nil {
		tb.Fatalf("authorize from %s: %s\n%s", src, res.Status, body)
	}
	res, err = c.PostForm(hs.URL+"/oauth/login", url.Values{"req": {string(m1[1])}, "csrf": {string(m2[1])},
		"email": {"alice@example.com"}, "password": {"correct horse"}, "action": {"login"}})
	if err != nil {
		tb.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		tb.Fatalf("login from %s: %s\n%s", src, res.Status, body)
	}
	u, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestAuthorizeFlood: a flood of authorization requests from one address
// allocates nothing on the edge, and a real sign-in from another address
// succeeds right after it (issue 11, item 2).
func TestAuthorizeFlood(t *testing.T) {
	clk := &clock{t: time.Now()}
	srv, hs := newTestServer(t, clk)
	h := srv.Handler()
	const redirect = "http://127.0.0.1:9/callback"
	const flood = 10100
	for i := range flood {
		r := httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+authorizeQuery(redirect).Encode(), nil)
		w := serveFrom(h, r, "127.0.0.2:40000")
		if w.Code != http.StatusOK || !inReq.Match(w.Body.Bytes()) {
			t.Fatalf("flood request %d: %d\n%s", i, w.Code, w.Body)
		}
	}
	if n := len(srv.finished.m); n != 0 {
		t.Fatalf("the flood left %d entries on the edge", n)
	}
	u := signInFrom(t, hs, "127.0.0.3", redirect)
	if u.Query().Get("code") == "" || u.Query().Get("error") != "" {
		t.Fatalf("the sign-in after the flood got %s", u)
	}
}

// TestSealedSignIn: the sealed sign-in in the login form cannot be
// altered, reused for another purpose, kept past its expiry or finished
// twice.
func TestSealedSignIn(t *testing.T) {
	clk := &clock{t: time.Now()}
	srv, hs := newTestServer(t, clk)
	const redirect = "http://127.0.0.1:9/callback"
	c := clientFrom(t, hs, "127.0.0.4")
	form := func(tb testing.TB) (string, string) {
		res, err := c.Get(hs.URL + "/oauth/authorize?" + authorizeQuery(redirect).Encode())
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return string(inReq.FindSubmatch(body)[1]), string(inCSRF.FindSubmatch(body)[1])
	}
	login := func(tb testing.TB, req, csrf string) (int, string) {
		res, err := c.PostForm(hs.URL+"/oauth/login", url.Values{"req": {req}, "csrf": {csrf},
			"email": {"alice@example.com"}, "password": {"correct horse"}, "action": {"login"}})
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(body)
	}
	otherPurpose := func() string {
		p := &pending{Browser: "x", DeviceKey: "k"}
		p.ID, p.Expires = "id", clk.Now().Add(time.Hour).Unix()
		v, _ := srv.seal.seal(sealUpstream, p)
		return v
	}()
	for _, tc := range []struct {
		name   string
		mangle func(req string) string
		before func()
		status int
		want   string
	}{
		{"altered", flipMiddle, nil, http.StatusBadRequest, "no longer open"},
		{"truncated", func(r string) string { return r[:20] }, nil, http.StatusBadRequest, "no longer open"},
		{"not base64", func(string) string { return "!!!" }, nil, http.StatusBadRequest, "no longer open"},
		{"sealed for the upstream leg", func(string) string { return otherPurpose }, nil, http.StatusBadRequest, "no longer open"},
		{"expired", nil, func() { clk.Add(pendingTTL) }, http.StatusBadRequest, "no longer open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, csrf := form(t)
			if tc.mangle != nil {
				req = tc.mangle(req)
			}
			if tc.before != nil {
				tc.before()
			}
			if st, body := login(t, req, csrf); st != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d, want %d naming %q\n%s", st, tc.status, tc.want, body)
			}
		})
	}
	t.Run("finished twice", func(t *testing.T) {
		req, csrf := form(t)
		if st, body := login(t, req, csrf); st != http.StatusSeeOther {
			t.Fatalf("first: %d\n%s", st, body)
		}
		if st, body := login(t, req, csrf); st != http.StatusBadRequest || !strings.Contains(body, "already completed") {
			t.Fatalf("second: %d\n%s", st, body)
		}
	})
	t.Run("too large to seal", func(t *testing.T) {
		q := authorizeQuery(redirect)
		q.Set("state", strings.Repeat("s", maxParamLen))
		w := serveFrom(srv.Handler(), httptest.NewRequest(http.MethodGet, "/oauth/authorize?"+q.Encode(), nil), "127.0.0.4:1")
		loc, _ := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" || !strings.Contains(loc.Query().Get("error_description"), "too large") {
			t.Fatalf("%d %s", w.Code, loc)
		}
	})
}

// flipMiddle changes one character in the middle of s.
func flipMiddle(s string) string {
	b := []byte(s)
	if i := len(b) / 2; b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func jsonBody(w *httptest.ResponseRecorder, v any) error {
	return json.Unmarshal(w.Body.Bytes(), v)
}
