package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// loginFrom posts alice's login form (a freshly sealed sign-in bound to
// browser) from remote, as the edge's listener would hand it over.
func loginFrom(tb testing.TB, srv *Server, remote, browser, email, pw string) (int, string) {
	tb.Helper()
	p := &pending{Browser: browser, RedirectURI: "http://127.0.0.1:9/cb", State: "s", Challenge: s256(strings.Repeat("v", 43))}
	req, err := srv.sealPending(p, srv.now())
	if err != nil {
		tb.Fatal(err)
	}
	form := url.Values{"req": {req}, "csrf": {srv.formToken("login|"+p.ID, browser)}, "email": {email}, "password": {pw}, "action": {"login"}}
	r := httptest.NewRequest(http.MethodPost, "/oauth/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: browserCookie, Value: browser})
	w := serveFrom(srv.Handler(), r, remote)
	return w.Code, w.Body.String()
}

// TestPasswordGuessing is the guessing matrix across addresses (issue 11,
// item 3): per account and address, per address (IPv6 per /64), and per
// account from new places, which slows a guesser with many addresses
// while alice keeps signing in from her own address and browser.
func TestPasswordGuessing(t *testing.T) {
	const (
		victim = "alice@example.com"
		pw     = "correct horse"
	)
	type try struct {
		remote, browser, email, pw string
		status                     int
		want                       string
	}
	wrong := func(remote string) try {
		return try{remote, "", victim, "wrong", http.StatusUnauthorized, "Wrong email or password"}
	}
	many := func(n int, f func(i int) try) []try {
		var out []try
		for i := range n {
			out = append(out, f(i))
		}
		return out
	}
	join := func(parts ...[]try) []try {
		var out []try
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		tries []try
		after time.Duration // the clock moves on before the last try
	}{
		{"one account from one address", join(
			many(5, func(int) try { return wrong("192.0.2.1:1000") }),
			[]try{{"192.0.2.1:1000", "", victim, pw, http.StatusTooManyRequests, "Too many failed sign-ins. Try again in"}},
			[]try{{"192.0.2.2:1000", "", victim, pw, http.StatusSeeOther, ""}}, // alice elsewhere
		), 0},
		{"many accounts from one address", join(
			many(30, func(i int) try {
				return try{"192.0.2.3:1000", "", fmt.Sprintf("u%d@example.com", i), "wrong", http.StatusUnauthorized, "Wrong email"}
			}),
			[]try{{"192.0.2.3:1000", "", "new@example.com", "x", http.StatusTooManyRequests, "from your network"}},
			[]try{{"192.0.2.4:1000", "", victim, pw, http.StatusSeeOther, ""}},
		), 0},
		{"IPv6 counted per /64", join(
			many(30, func(i int) try {
				return try{fmt.Sprintf("[2001:db8:1:2::%x]:1000", i+1), "", fmt.Sprintf("u%d@example.com", i), "wrong", http.StatusUnauthorized, "Wrong email"}
			}),
			[]try{{"[2001:db8:1:2:ffff::1]:1000", "", "new@example.com", "x", http.StatusTooManyRequests, "from your network"}},
			[]try{{"[2001:db8:1:3::1]:1000", "", victim, pw, http.StatusSeeOther, ""}}, // the next /64
		), 0},
		{"one account from many addresses", join(
			[]try{{"198.51.100.1:1000", "alices-browser", victim, pw, http.StatusSeeOther, ""}}, // alice signs in at home
			many(10, func(i int) try { return wrong(fmt.Sprintf("203.0.113.%d:1000", i+1)) }),
			many(20, func(i int) try {
				return try{fmt.Sprintf("203.0.113.%d:1000", i+100), "", victim, "wrong", http.StatusTooManyRequests, "from new places"}
			}),
			// alice, from home and from her browser on a new network,
			// is not locked out by the guesser.
			[]try{{"198.51.100.1:1000", "", victim, pw, http.StatusSeeOther, ""}},
			[]try{{"192.0.2.200:1000", "alices-browser", victim, pw, http.StatusSeeOther, ""}},
			// A new place waits its turn: slowed, not locked.
			[]try{{"192.0.2.201:1000", "", victim, pw, http.StatusSeeOther, ""}},
		), accountEvery},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{t: time.Now()}
			srv, _ := newTestServer(t, clk)
			for i, tr := range tc.tries {
				if i == len(tc.tries)-1 {
					clk.Add(tc.after)
				}
				browser := tr.browser
				if browser == "" {
					browser = newSecret("")
				}
				st, body := loginFrom(t, srv, tr.remote, browser, tr.email, tr.pw)
				if st != tr.status || !strings.Contains(body, tr.want) {
					t.Fatalf("try %d from %s as %s: %d, want %d naming %q\n%s", i, tr.remote, tr.email, st, tr.status, tr.want, body)
				}
			}
		})
	}
}

func TestKeyedLimiterBounded(t *testing.T) {
	now := time.Now()
	k := newKeyedLimiter(time.Minute, 1, 3)
	for i := range 10 {
		k.take(fmt.Sprint(i), now)
	}
	if k.len() != 3 {
		t.Fatalf("%d keys held, want at most 3", k.len())
	}
	if ok, _ := k.check("9", now); ok {
		t.Fatal("the newest key lost its count")
	}
	if ok, wait := k.take("9", now.Add(time.Minute)); !ok || wait != 0 {
		t.Fatalf("after a minute: %v %s", ok, wait)
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.1:80", "192.0.2.1"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"[2001:db8::1]:80", "2001:db8::/64"},
		{"[2001:db8::ffff:1:2:3]:80", "2001:db8::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"junk", "junk"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := addrKey(tc.in); got != tc.want {
				t.Fatalf("%q", got)
			}
		})
	}
}

// TestDeviceFloods: device authorizations and user-code guesses are
// answered 429 past their limits, per address, per browser and in total
// (RFC 8628 §5.1), and a device code is gone from the store at its
// expiry.
func TestDeviceFloods(t *testing.T) {
	create := func(srv *Server, remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/oauth/device/code", strings.NewReader("client_id="+ClientID))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return serveFrom(srv.Handler(), r, remote)
	}
	guess := func(srv *Server, remote, browser, code string) *httptest.ResponseRecorder {
		form := url.Values{"csrf": {srv.formToken("device", browser)}, "user_code": {code}, "action": {"continue"}}
		r := httptest.NewRequest(http.MethodPost, "/device", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: browserCookie, Value: browser})
		return serveFrom(srv.Handler(), r, remote)
	}
	t.Run("creation from one address", func(t *testing.T) {
		srv, _ := newTestServer(t, &clock{t: time.Now()})
		for i := range deviceAddrBurst {
			if w := create(srv, "192.0.2.1:1"); w.Code != http.StatusOK {
				t.Fatalf("creation %d: %d %s", i, w.Code, w.Body)
			}
		}
		w := create(srv, "192.0.2.1:1")
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "too many device authorizations") {
			t.Fatalf("over the limit: %d %v %s", w.Code, w.Header(), w.Body)
		}
		if w := create(srv, "192.0.2.2:1"); w.Code != http.StatusOK {
			t.Fatalf("another address: %d %s", w.Code, w.Body)
		}
	})
	t.Run("creation in total", func(t *testing.T) {
		srv, _ := newTestServer(t, &clock{t: time.Now()})
		ok := 0
		for i := range 200 {
			if w := create(srv, fmt.Sprintf("10.0.%d.%d:1", i/250, i%250+1)); w.Code == http.StatusOK {
				ok++
			} else if w.Code != http.StatusTooManyRequests {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		}
		if ok != deviceTotalBurst {
			t.Fatalf("%d of 200 creations from 200 addresses stored, want %d", ok, deviceTotalBurst)
		}
	})
	t.Run("guessing", func(t *testing.T) {
		clk := &clock{t: time.Now()}
		srv, _ := newTestServer(t, clk)
		var da map[string]any
		w := create(srv, "198.51.100.1:1")
		if err := jsonBody(w, &da); err != nil {
			t.Fatal(err)
		}
		real := da["user_code"].(string)
		b1, b2 := newSecret(""), newSecret("")
		for i := range guessCookieBurst {
			if w := guess(srv, "192.0.2.9:1", b1, "BBBB-BBB"+string(userCodeLetter[i])); w.Code != http.StatusBadRequest {
				t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
			}
		}
		if w := guess(srv, "192.0.2.9:1", b1, real); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "Too many wrong codes") {
			t.Fatalf("this browser over its limit: %d %s", w.Code, w.Body)
		}
		for i := guessCookieBurst; i < guessAddrBurst; i++ {
			if w := guess(srv, "192.0.2.9:1", b2, "CCCC-CCC"+string(userCodeLetter[i])); w.Code != http.StatusBadRequest {
				t.Fatalf("guess %d with a new cookie: %d %s", i, w.Code, w.Body)
			}
		}
		if w := guess(srv, "192.0.2.9:1", newSecret(""), real); w.Code != http.StatusTooManyRequests {
			t.Fatalf("this address over its limit with a fresh cookie: %d %s", w.Code, w.Body)
		}
		// The person, from their own network, finds their code.
		if w := guess(srv, "198.51.100.1:1", newSecret(""), real); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "to approve device") {
			t.Fatalf("the real code: %d %s", w.Code, w.Body)
		}
		// Dropped at expiry.
		clk.Add(DeviceCodeTTL)
		if err := srv.store.Collect(context.Background(), clk.Now(), revokedKeep); err != nil {
			t.Fatal(err)
		}
		code, _ := normalizeUserCode(real)
		if _, err := srv.store.DeviceByUserCode(context.Background(), code); !errors.Is(err, ErrNotFound) {
			t.Fatalf("an expired device code after Collect: %v", err)
		}
	})
}
