package signin

import (
	"strings"
	"testing"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/internal/testenv"
)

const identityLine = "signed in as a different user than before"

// setUser makes the fake authorization server sign in user from now on.
func (as *fakeAS) setUser(user string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.user = user
}

// identityNotices are the notices that warn of a changed identity.
func identityNotices(tb testing.TB, n *noticeRecorder) []apitype.IdentityChange {
	tb.Helper()
	var out []apitype.IdentityChange
	for _, x := range n.all() {
		if x.IdentityChange != nil {
			if x.URL != "" || x.UserCode != "" {
				tb.Errorf("an identity notice carries a sign-in URL or code: %+v", x)
			}
			out = append(out, *x.IdentityChange)
		}
	}
	return out
}

// signInAs runs an explicit sign-in (the browser follows at once) and
// waits until it completed as user: the exchange count moves on and the
// state shows user signed in.
func signInAs(tb testing.TB, r *rig, user string) apitype.SignIn {
	tb.Helper()
	r.as.setUser(user)
	before, _, _ := r.as.stats()
	if _, err := r.m.Login(ctxT(tb), false); err != nil {
		tb.Fatal(err)
	}
	var s apitype.SignIn
	testenv.Eventually(tb, "signed in as "+user, func() bool {
		n, _, _ := r.as.stats()
		s = r.m.SignIn()
		return n > before && s.State == apitype.SignInSignedIn && s.Email == user
	})
	return s
}

// TestIdentityChangeWarned: a sign-in that comes back as another user than
// the one signed in before at the edge (a login CSRF delivers the
// attacker's account) is warned of once, through the notifier, the log
// and IdentityChanged in the status; the same user again is not.
func TestIdentityChangeWarned(t *testing.T) {
	const alice, mallory = "alice@example.com", "mallory@example.com"

	t.Run("another user in the same run", func(t *testing.T) {
		r := newRig(t, rigOptions{})
		if s := signInAs(t, r, alice); s.IdentityChanged != nil {
			t.Fatalf("first sign-in warns: %+v", s.IdentityChanged)
		}
		if s := signInAs(t, r, alice); s.IdentityChanged != nil {
			t.Fatalf("the same user again warns: %+v", s.IdentityChanged)
		}
		if n := identityNotices(t, r.notices); len(n) != 0 {
			t.Fatalf("notices before any change: %+v", n)
		}
		s := signInAs(t, r, mallory)
		if ch := s.IdentityChanged; ch == nil || ch.From != alice || ch.To != mallory || ch.Time.IsZero() {
			t.Fatalf("IdentityChanged = %+v, want %s → %s", ch, alice, mallory)
		}
		// Said once: a further sign-in as the same new user adds nothing.
		signInAs(t, r, mallory)
		if n := identityNotices(t, r.notices); len(n) != 1 || n[0].From != alice || n[0].To != mallory {
			t.Errorf("identity notices = %+v, want one %s → %s", n, alice, mallory)
		}
		if n := strings.Count(r.logs.String(), identityLine); n != 1 {
			t.Errorf("%d warnings in the log, want 1:\n%s", n, r.logs.String())
		}
		if s := r.m.SignIn(); s.IdentityChanged == nil {
			t.Error("the warning left the status before a logout")
		}
		if _, err := r.m.Logout(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if s := r.m.SignIn(); s.IdentityChanged != nil {
			t.Errorf("IdentityChanged after logout = %+v", s.IdentityChanged)
		}
	})

	t.Run("another user than the stored sign-in, after a restart", func(t *testing.T) {
		first := newRig(t, rigOptions{})
		signInAs(t, first, alice)
		// A new daemon run: the same store and edge, nothing in memory.
		r := newRig(t, rigOptions{store: first.store, as: first.as})
		s := signInAs(t, r, mallory)
		if ch := s.IdentityChanged; ch == nil || ch.From != alice || ch.To != mallory {
			t.Fatalf("IdentityChanged = %+v, want %s → %s", ch, alice, mallory)
		}
		if n := identityNotices(t, r.notices); len(n) != 1 {
			t.Errorf("identity notices = %+v, want one", n)
		}
	})

	t.Run("after a logout nobody counts as before", func(t *testing.T) {
		r := newRig(t, rigOptions{})
		signInAs(t, r, alice)
		if _, err := r.m.Logout(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if s := signInAs(t, r, mallory); s.IdentityChanged != nil {
			t.Errorf("a sign-in after a logout warns: %+v", s.IdentityChanged)
		}
		if n := identityNotices(t, r.notices); len(n) != 0 {
			t.Errorf("identity notices = %+v, want none", n)
		}
	})

	t.Run("the log notifier leaves the warning to the manager's log", func(t *testing.T) {
		r := newRig(t, rigOptions{})
		before := r.logs.String()
		LogNotifier{Log: r.m.log}.Notify(ctxT(t), Notice{Edge: "main", IdentityChange: &apitype.IdentityChange{From: alice, To: mallory}})
		if r.logs.String() != before {
			t.Errorf("LogNotifier logged an identity notice:\n%s", strings.TrimPrefix(r.logs.String(), before))
		}
	})
}

func TestIdentityDiffers(t *testing.T) {
	tests := []struct {
		name string
		a, b identity
		want bool
	}{
		{"same subject, new email", identity{"u1", "a@x"}, identity{"u1", "b@x"}, false},
		{"other subject, same email", identity{"u1", "a@x"}, identity{"u2", "a@x"}, true},
		{"emails ignore case", identity{"", "Alice@X"}, identity{"u1", "alice@x"}, false},
		{"other email, a subject unknown", identity{"", "a@x"}, identity{"u1", "b@x"}, true},
		{"nobody before", identity{}, identity{"u1", "a@x"}, false},
		{"nobody now", identity{"u1", "a@x"}, identity{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.differs(tt.b); got != tt.want {
				t.Errorf("%+v.differs(%+v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
