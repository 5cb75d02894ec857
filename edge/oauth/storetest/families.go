package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
)

func familyCases() []Case {
	return []Case{
		{"family/created once, found by its refresh key", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			f := family("fam1", alice())
			mustCreate(t, st, f)
			got, err := st.FamilyByRefresh(ctx, "fam1-0")
			if err != nil || got.ID != "fam1" || got.Current != "fam1-0" || got.Generation != 0 || !got.Created.Equal(t0) ||
				!got.Revoked.IsZero() || len(got.Audience) != 1 || got.Identity.IDP != oauth.IDPUsers {
				t.Fatalf("%+v, %v", got, err)
			}
			if err := st.CreateFamily(ctx, f); err == nil {
				t.Error("a family was created twice")
			}
			other := family("fam2", bob())
			other.Current = "fam1-0"
			if err := st.CreateFamily(ctx, other); err == nil {
				t.Error("a second family took a refresh key in use")
			}
			if _, err := st.FamilyByRefresh(ctx, "nope"); !errors.Is(err, oauth.ErrNotFound) {
				t.Errorf("unknown key: %v", err)
			}
		}},
		{"family/an incomplete family is refused", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			for name, mutate := range map[string]func(*oauth.Family){
				"no id":       func(f *oauth.Family) { f.ID = "" },
				"no client":   func(f *oauth.Family) { f.ClientID = "" },
				"no current":  func(f *oauth.Family) { f.Current = "" },
				"no expiry":   func(f *oauth.Family) { f.Expires = time.Time{} },
				"no identity": func(f *oauth.Family) { f.Identity = oauth.Identity{IDP: oauth.IDPUsers} },
				"unknown idp": func(f *oauth.Family) { f.Identity.IDP = "ldap" },
			} {
				f := family("fam-"+name, alice())
				mutate(&f)
				if err := st.CreateFamily(ctx, f); err == nil {
					t.Errorf("%s: created", name)
				}
			}
		}},
		{"rotate/advances; every generation's key finds the family", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			mustCreate(t, st, family("fam1", alice()))
			got, err := st.Rotate(ctx, "fam1-0", "fam1-1", at(time.Minute), at(2*time.Hour))
			if err != nil || got.Generation != 1 || got.Current != "fam1-1" || !got.Expires.Equal(at(2*time.Hour)) {
				t.Fatalf("rotate: %+v, %v", got, err)
			}
			if got, err = st.Rotate(ctx, "fam1-1", "fam1-2", at(2*time.Minute), at(3*time.Hour)); err != nil || got.Generation != 2 {
				t.Fatalf("second rotate: %+v, %v", got, err)
			}
			for _, k := range []string{"fam1-0", "fam1-1", "fam1-2"} {
				if f, err := st.FamilyByRefresh(ctx, k); err != nil || f.ID != "fam1" || f.Current != "fam1-2" {
					t.Errorf("%s: %+v, %v", k, f, err)
				}
			}
		}},
		{"rotate/unknown key", func(t *testing.T, st oauth.Store) {
			if _, err := st.Rotate(ctxOf(t), "nope", "n1", t0, at(time.Hour)); !errors.Is(err, oauth.ErrNotFound) {
				t.Fatal(err)
			}
		}},
		{"rotate/reuse revokes the family", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			mustCreate(t, st, family("fam1", alice()), family("fam2", alice()))
			if _, err := st.Rotate(ctx, "fam1-0", "fam1-1", t0, at(time.Hour)); err != nil {
				t.Fatal(err)
			}
			got, err := st.Rotate(ctx, "fam1-0", "fam1-x", at(time.Minute), at(time.Hour))
			if !errors.Is(err, oauth.ErrRefreshReused) || !got.Revoked.Equal(at(time.Minute)) || got.RevokeReason == "" {
				t.Fatalf("reuse: %+v, %v", got, err)
			}
			if _, err := st.Rotate(ctx, "fam1-1", "fam1-2", at(time.Minute), at(time.Hour)); !errors.Is(err, oauth.ErrRevoked) {
				t.Fatalf("the current key after a reuse: %v", err)
			}
			if f, err := st.FamilyByRefresh(ctx, "fam1-1"); err != nil || f.Revoked.IsZero() || f.Current != "fam1-1" {
				t.Fatalf("stored: %+v, %v", f, err)
			}
			if _, err := st.FamilyByRefresh(ctx, "fam1-x"); !errors.Is(err, oauth.ErrNotFound) {
				t.Errorf("the reuse's new key was stored: %v", err)
			}
			if ids, err := st.RevokedSince(ctx, t0); err != nil || !sameIDs(ids, "fam1") {
				t.Errorf("revoked since: %v, %v", ids, err)
			}
		}},
		{"rotate/a lapsed family", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			mustCreate(t, st, family("fam1", alice()))
			if _, err := st.Rotate(ctx, "fam1-0", "fam1-1", at(time.Hour), at(2*time.Hour)); !errors.Is(err, oauth.ErrExpired) {
				t.Fatalf("at expiry: %v", err)
			}
			if f, err := st.FamilyByRefresh(ctx, "fam1-0"); err != nil || f.Generation != 0 || !f.Revoked.IsZero() {
				t.Fatalf("a lapsed rotate changed the family: %+v, %v", f, err)
			}
		}},
		{"rotate/a new key in use is refused", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			mustCreate(t, st, family("fam1", alice()), family("fam2", bob()))
			if _, err := st.Rotate(ctx, "fam1-0", "fam2-0", t0, at(time.Hour)); err == nil {
				t.Fatal("rotated onto another family's key")
			}
			if f, err := st.FamilyByRefresh(ctx, "fam2-0"); err != nil || f.ID != "fam2" {
				t.Fatalf("fam2's key: %+v, %v", f, err)
			}
			if f, err := st.Rotate(ctx, "fam1-0", "fam1-1", t0, at(time.Hour)); err != nil || f.Generation != 1 {
				t.Fatalf("fam1 after the refused rotate: %+v, %v", f, err)
			}
		}},
		{"rotate/concurrent use of one key: one rotates, the family is revoked", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			mustCreate(t, st, family("fam1", alice()))
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, errs[i] = st.Rotate(ctx, "fam1-0", "fam1-new-"+string(rune('a'+i)), t0, at(time.Hour))
				})
			}
			wg.Wait()
			won, reused := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case errors.Is(err, oauth.ErrRefreshReused):
					reused++
				case !errors.Is(err, oauth.ErrRevoked):
					t.Errorf("unexpected: %v", err)
				}
			}
			if won != 1 || reused < 1 {
				t.Fatalf("%d rotated, %d saw the reuse (of %d)", won, reused, n)
			}
			if f, err := st.FamilyByRefresh(ctx, "fam1-0"); err != nil || f.Revoked.IsZero() {
				t.Fatalf("family after the race: %+v, %v", f, err)
			}
		}},
		{"revoke/a family, once", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			mustCreate(t, st, family("fam1", alice()), family("fam2", alice()))
			if err := st.RevokeFamily(ctx, "fam1", at(time.Minute), "logout"); err != nil {
				t.Fatal(err)
			}
			if err := st.RevokeFamily(ctx, "fam1", at(time.Hour), "again"); err != nil {
				t.Fatalf("second revoke: %v", err)
			}
			f, err := st.FamilyByRefresh(ctx, "fam1-0")
			if err != nil || !f.Revoked.Equal(at(time.Minute)) || f.RevokeReason != "logout" {
				t.Fatalf("the first revocation must stay: %+v, %v", f, err)
			}
			if _, err := st.Rotate(ctx, "fam1-0", "fam1-1", at(time.Minute), at(time.Hour)); !errors.Is(err, oauth.ErrRevoked) {
				t.Fatalf("rotate a revoked family: %v", err)
			}
			if err := st.RevokeFamily(ctx, "nope", t0, "x"); !errors.Is(err, oauth.ErrNotFound) {
				t.Errorf("unknown family: %v", err)
			}
			if f, _ := st.FamilyByRefresh(ctx, "fam2-0"); !f.Revoked.IsZero() {
				t.Error("fam2 was revoked too")
			}
		}},
		{"revoke/a user's families made before a time", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			later := family("later", alice())
			later.Created = at(time.Minute)
			upper := family("upper", alice())
			upper.Identity.Email = "Alice@Example.COM"
			gone := family("gone", alice())
			mustCreate(t, st, family("a1", alice()), upper, later, gone, family("b1", bob()))
			if err := st.RevokeFamily(ctx, "gone", t0, "logout"); err != nil {
				t.Fatal(err)
			}
			ids, err := st.RevokeUser(ctx, "ALICE@example.com", at(time.Second), at(time.Hour))
			if err != nil || !sameIDs(ids, "a1", "upper") {
				t.Fatalf("revoke user: %v, %v", ids, err)
			}
			for key, revoked := range map[string]bool{"a1-0": true, "upper-0": true, "later-0": false, "b1-0": false} {
				f, err := st.FamilyByRefresh(ctx, key)
				if err != nil || f.Revoked.IsZero() == revoked {
					t.Errorf("%s: revoked %v, want %v (%v)", key, f.Revoked, revoked, err)
				}
			}
			if f, _ := st.FamilyByRefresh(ctx, "gone-0"); !f.Revoked.Equal(t0) || f.RevokeReason != "logout" {
				t.Errorf("an earlier revocation was overwritten: %+v", f)
			}
			if ids, err := st.RevokeUser(ctx, "alice@example.com", at(time.Second), at(2*time.Hour)); err != nil || len(ids) != 0 {
				t.Errorf("second revoke user: %v, %v", ids, err)
			}
		}},
		{"revoke/revoked since is inclusive", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			mustCreate(t, st, family("f1", alice()), family("f2", alice()), family("f3", bob()))
			for id, when := range map[string]time.Time{"f1": at(time.Minute), "f2": at(2 * time.Minute)} {
				if err := st.RevokeFamily(ctx, id, when, "x"); err != nil {
					t.Fatal(err)
				}
			}
			for since, want := range map[time.Duration][]string{0: {"f1", "f2"}, time.Minute: {"f1", "f2"}, time.Minute + time.Second: {"f2"}, 2 * time.Minute: {"f2"}, time.Hour: nil} {
				if ids, err := st.RevokedSince(ctx, at(since)); err != nil || !sameIDs(ids, want...) {
					t.Errorf("since +%s: %v, want %v (%v)", since, ids, want, err)
				}
			}
		}},
	}
}
