package signin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/socks"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestNobodyToAsk: a sign-in that no browser, notification or watcher
// (the tray, a waiting airlock login) can bring to the person is not
// started: the connection that asked gets its answer at once, whatever
// sign_in.wait is (an hour here, so an answer held for the wait would
// never come), with the reply and text that say to run airlock login;
// the edge is not asked for a device code nobody would see.
func TestNobodyToAsk(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       rigOptions
		failing bool // the test browser fails to open
		want    string
	}{
		{name: "headless, only the log", o: rigOptions{noBrowser: true}, want: "no browser can be opened here"},
		{name: "the browser fails to open, only the log", failing: true, want: "the browser could not be opened"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.wait, tc.o.flow, tc.o.notifier = time.Hour, time.Hour, LogNotifier{}
			r := newRig(t, tc.o)
			if tc.failing {
				r.browser.fail = errors.New("xdg-open: no method available")
			}
			for i := range 2 { // the second kubectl run does not wait on a dead attempt either
				_, err := r.source().Token(ctxT(t))
				se := signInErr(t, err)
				if se.Code != apitype.SignInNobody || !strings.Contains(err.Error(), "run `airlock login`") || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("run %d: %v (code %s)", i, err, se.Code)
				}
				if f := socks.Classify(err); f.Reply != socks.ReplyNotAllowed || f.Cause != socks.CauseSignInNeeded {
					t.Fatalf("run %d: SOCKS %+v", i, f)
				}
			}
			st := r.m.SignIn()
			if st.State != apitype.SignInSignedOut || st.Problem == nil || st.Problem.Code != apitype.SignInNobody || !strings.Contains(st.Problem.Message, "airlock login") {
				t.Fatalf("status %+v", st)
			}
			r.as.mu.Lock()
			devices := len(r.as.devices)
			r.as.mu.Unlock()
			if devices != 0 {
				t.Fatalf("%d device codes asked for that nobody would see", devices)
			}
			if !strings.Contains(r.logs.String(), "airlock login") {
				t.Fatalf("the log does not say what to run:\n%s", r.logs)
			}
		})
	}
	t.Run("headless, the tray watches", func(t *testing.T) {
		r := newRig(t, rigOptions{noBrowser: true, notifier: LogNotifier{}, wait: time.Hour, watched: func() bool { return true }})
		done := make(chan error, 1)
		go func() { _, err := r.source().Token(ctxT(t)); done <- err }()
		var code string
		testenv.Eventually(t, "the device code in the status", func() bool {
			st := r.m.SignIn()
			code = st.UserCode
			return st.State == apitype.SignInNeeded && code != ""
		})
		if !r.as.approve(code, true) {
			t.Fatal("no such device code")
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("airlock login, headless, only the log", func(t *testing.T) {
		r := newRig(t, rigOptions{noBrowser: true, notifier: LogNotifier{}, wait: time.Hour})
		st, err := r.m.Login(ctxT(t), false)
		if err != nil || st.State != apitype.SignInNeeded || st.UserCode == "" {
			t.Fatalf("login: %+v %v", st, err)
		}
	})
}

// TestSignInUnavailable: the edge's temporarily_unavailable (its
// identity provider failed on its side) is not a refusal: the SOCKS
// client gets "general SOCKS server failure", the status names the
// provider.
func TestSignInUnavailable(t *testing.T) {
	as := newFakeAS(t)
	as.deny, as.denyCode = "the identity provider corp is temporarily unavailable: redeem its code: 503 Service Unavailable", "temporarily_unavailable"
	r := newRig(t, rigOptions{as: as})
	_, err := r.source().Token(ctxT(t))
	se := signInErr(t, err)
	if se.Code != apitype.SignInUnavailable || !strings.Contains(err.Error(), "identity provider corp") {
		t.Fatalf("%v (code %s)", err, se.Code)
	}
	if f := socks.Classify(err); f.Reply != socks.ReplyGeneralFailure || f.Cause != socks.CauseSignInUnavailable || f.Code != 0 {
		t.Fatalf("SOCKS %+v", f)
	}
	if st := r.m.SignIn(); st.Problem == nil || st.Problem.Code != apitype.SignInUnavailable {
		t.Fatalf("status %+v", st)
	}
	// The attempt is over: the next connection opens the browser again.
	as.mu.Lock()
	as.deny = ""
	as.mu.Unlock()
	if _, err := r.source().Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(r.browser.opens()); n != 2 {
		t.Fatalf("browser opened %d times, want 2", n)
	}
}
