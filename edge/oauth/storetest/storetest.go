// Package storetest is the contract of [oauth.Store]: one set of cases
// that every store must pass, run against the embedded bbolt store (this
// package's own test) and the PostgreSQL store (edge/store/postgres).
// A behaviour the sign-in server relies on is written here once, not per
// store.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/testenv"
)

// Open returns a new, empty store for one case; the case closes it.
type Open func(tb testing.TB) oauth.Store

// Case is one behaviour of the contract.
type Case struct {
	Name string
	Run  func(t *testing.T, st oauth.Store)
}

// Cases returns the contract, every case named.
func Cases() []Case {
	var all []Case
	for _, group := range [][]Case{codeCases(), familyCases(), deviceCases(), collectCases()} {
		all = append(all, group...)
	}
	return all
}

// Run runs every case of the contract as a subtest of t, each on a new
// store from open, and returns how many ran.
func Run(t *testing.T, open Open) int {
	t.Helper()
	n := 0
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() {
				if err := st.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			c.Run(t, st)
		})
		n++
	}
	return n
}

// t0 is the cases' clock: whole seconds, as the stores compare times
// (PostgreSQL to the microsecond).
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func ctxOf(tb testing.TB) context.Context { return testenv.Context(tb) }

func alice() oauth.Identity {
	return oauth.Identity{Subject: "alice", Email: "alice@example.com", Groups: []string{"dev"}, IDP: oauth.IDPUsers}
}

func bob() oauth.Identity {
	return oauth.Identity{Subject: "bob", Email: "bob@example.com", IDP: oauth.IDPOIDC}
}

// family is a live family of id for who, created at t0, whose current
// refresh key is id+"-0".
func family(id string, who oauth.Identity) oauth.Family {
	return oauth.Family{ID: id, ClientID: "airlock", Identity: who, Audience: []string{"k8s.example.com"},
		Created: t0, Expires: at(time.Hour), Current: id + "-0"}
}

func mustCreate(tb testing.TB, st oauth.Store, fams ...oauth.Family) {
	tb.Helper()
	for _, f := range fams {
		if err := st.CreateFamily(ctxOf(tb), f); err != nil {
			tb.Fatalf("create family %s: %v", f.ID, err)
		}
	}
}

func code(who oauth.Identity, expires time.Time) oauth.Code {
	return oauth.Code{ClientID: "airlock", RedirectURI: "http://127.0.0.1:4321/callback", Challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Identity: who, Expires: expires}
}

func device(key, userCode string) oauth.Device {
	return oauth.Device{Key: key, UserCode: userCode, ClientID: "airlock", Audience: []string{"k8s.example.com"},
		Expires: at(10 * time.Minute), Interval: 5, Status: oauth.DevicePending}
}

// sameIDs reports whether got holds exactly want, in any order.
func sameIDs(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for _, w := range want {
		if seen[w]--; seen[w] < 0 {
			return false
		}
	}
	return true
}
