package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
)

func deviceCases() []Case {
	return []Case{
		{"device/stored, found by user code; codes and keys unique", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			if err := st.PutDevice(ctx, device("dk1", "BCDFGHJK")); err != nil {
				t.Fatal(err)
			}
			got, err := st.DeviceByUserCode(ctx, "BCDFGHJK")
			if err != nil || got.Key != "dk1" || got.Status != oauth.DevicePending || got.Interval != 5 || !got.Expires.Equal(at(10*time.Minute)) {
				t.Fatalf("%+v, %v", got, err)
			}
			if err := st.PutDevice(ctx, device("dk2", "BCDFGHJK")); !errors.Is(err, oauth.ErrCodeUsed) {
				t.Errorf("a user code in use: %v", err)
			}
			if err := st.PutDevice(ctx, device("dk1", "LMNPQRST")); !errors.Is(err, oauth.ErrCodeUsed) {
				t.Errorf("a key in use: %v", err)
			}
			if _, err := st.DeviceByUserCode(ctx, "LMNPQRST"); !errors.Is(err, oauth.ErrNotFound) {
				t.Errorf("a refused put was stored: %v", err)
			}
		}},
		{"device/an incomplete one is refused", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			for name, mutate := range map[string]func(*oauth.Device){
				"no key":           func(d *oauth.Device) { d.Key = "" },
				"no user code":     func(d *oauth.Device) { d.UserCode = "" },
				"no interval":      func(d *oauth.Device) { d.Interval = 0 },
				"unknown status":   func(d *oauth.Device) { d.Status = "maybe" },
				"approved, nobody": func(d *oauth.Device) { d.Status = oauth.DeviceApproved },
			} {
				d := device("dk-"+name, "BCDFGHJK")
				mutate(&d)
				if err := st.PutDevice(ctx, d); err == nil {
					t.Errorf("%s: stored", name)
				}
			}
		}},
		{"device/updated in place; fn's error stores nothing", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			if err := st.PutDevice(ctx, device("dk1", "BCDFGHJK")); err != nil {
				t.Fatal(err)
			}
			who := alice()
			got, err := st.UpdateDevice(ctx, "dk1", func(d *oauth.Device) error {
				d.Status, d.Identity, d.LastPoll = oauth.DeviceApproved, &who, at(time.Second)
				return nil
			})
			if err != nil || got.Status != oauth.DeviceApproved {
				t.Fatalf("approve: %+v, %v", got, err)
			}
			errSlow := errors.New("slow down")
			got, err = st.UpdateDevice(ctx, "dk1", func(d *oauth.Device) error {
				d.Status = oauth.DeviceDenied
				return errSlow
			})
			if !errors.Is(err, errSlow) {
				t.Fatalf("fn's error: %v", err)
			}
			stored, err := st.DeviceByUserCode(ctx, "BCDFGHJK")
			if err != nil || stored.Status != oauth.DeviceApproved || stored.Identity == nil || stored.Identity.Email != who.Email ||
				!stored.LastPoll.Equal(at(time.Second)) {
				t.Fatalf("stored: %+v, %v", stored, err)
			}
			if _, err := st.UpdateDevice(ctx, "dk1", func(d *oauth.Device) error { d.Status = "bogus"; return nil }); err == nil {
				t.Error("an invalid update was stored")
			}
			if _, err := st.UpdateDevice(ctx, "nope", func(*oauth.Device) error { return nil }); !errors.Is(err, oauth.ErrNotFound) {
				t.Errorf("unknown key: %v", err)
			}
		}},
		{"device/an empty status deletes it and frees its user code", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			if err := st.PutDevice(ctx, device("dk1", "BCDFGHJK")); err != nil {
				t.Fatal(err)
			}
			if _, err := st.UpdateDevice(ctx, "dk1", func(d *oauth.Device) error { d.Status = ""; return nil }); err != nil {
				t.Fatal(err)
			}
			if _, err := st.DeviceByUserCode(ctx, "BCDFGHJK"); !errors.Is(err, oauth.ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
			if _, err := st.UpdateDevice(ctx, "dk1", func(*oauth.Device) error { return nil }); !errors.Is(err, oauth.ErrNotFound) {
				t.Fatalf("update after delete: %v", err)
			}
			if err := st.PutDevice(ctx, device("dk2", "BCDFGHJK")); err != nil {
				t.Fatalf("the freed user code: %v", err)
			}
		}},
		{"device/concurrent updates serialize", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			if err := st.PutDevice(ctx, device("dk1", "BCDFGHJK")); err != nil {
				t.Fatal(err)
			}
			const n = 16
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					if _, err := st.UpdateDevice(ctx, "dk1", func(d *oauth.Device) error { d.Interval++; return nil }); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if d, err := st.DeviceByUserCode(ctx, "BCDFGHJK"); err != nil || d.Interval != 5+n {
				t.Fatalf("interval %d after %d increments from 5 (%v): an update was lost", d.Interval, n, err)
			}
		}},
	}
}

func collectCases() []Case {
	return []Case{
		{"collect/drops what lapsed, keeps the rest", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			keep := 10 * time.Minute
			// Codes go keep after their expiry (a replayed code still
			// revokes what it issued), devices at their expiry.
			for k, exp := range map[string]time.Duration{"c-old": time.Minute, "c-kept": 55 * time.Minute} {
				if err := st.PutCode(ctx, k, code(alice(), at(exp))); err != nil {
					t.Fatal(err)
				}
			}
			dOld, dKept := device("d-old", "BCDFGHJK"), device("d-kept", "LMNPQRST")
			dOld.Expires, dKept.Expires = at(55*time.Minute), at(65*time.Minute)
			for _, d := range []oauth.Device{dOld, dKept} {
				if err := st.PutDevice(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			// Live families go at their expiry (rotated keys with them),
			// revoked ones keep after their revocation.
			lapsed, live, revOld, revKept := family("lapsed", alice()), family("live", alice()), family("rev-old", bob()), family("rev-kept", bob())
			lapsed.Expires, live.Expires = at(30*time.Minute), at(2*time.Hour)
			mustCreate(t, st, lapsed, live, revOld, revKept)
			if _, err := st.Rotate(ctx, "lapsed-0", "lapsed-1", t0, at(50*time.Minute)); err != nil {
				t.Fatal(err)
			}
			for id, when := range map[string]time.Duration{"rev-old": time.Minute, "rev-kept": 55 * time.Minute} {
				if err := st.RevokeFamily(ctx, id, at(when), "x"); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Collect(ctx, at(time.Hour), keep); err != nil {
				t.Fatal(err)
			}
			if _, err := st.RedeemCode(ctx, "c-old", at(time.Hour)); !errors.Is(err, oauth.ErrNotFound) {
				t.Errorf("c-old: %v", err)
			}
			if _, err := st.RedeemCode(ctx, "c-kept", at(time.Hour)); !errors.Is(err, oauth.ErrExpired) {
				t.Errorf("c-kept: %v", err)
			}
			if _, err := st.DeviceByUserCode(ctx, "BCDFGHJK"); !errors.Is(err, oauth.ErrNotFound) {
				t.Errorf("d-old, lapsed 5 minutes ago: %v", err)
			}
			if _, err := st.DeviceByUserCode(ctx, "LMNPQRST"); err != nil {
				t.Errorf("d-kept: %v", err)
			}
			if err := st.PutDevice(ctx, device("d-new", "BCDFGHJK")); err != nil {
				t.Errorf("d-old's user code after collect: %v", err)
			}
			for key, kept := range map[string]bool{"lapsed-0": false, "lapsed-1": false, "live-0": true, "rev-old-0": false, "rev-kept-0": true} {
				_, err := st.FamilyByRefresh(ctx, key)
				if kept && err != nil || !kept && !errors.Is(err, oauth.ErrNotFound) {
					t.Errorf("%s: %v, want kept %v", key, err, kept)
				}
			}
			if ids, err := st.RevokedSince(ctx, t0); err != nil || !sameIDs(ids, "rev-kept") {
				t.Errorf("revoked since after collect: %v, %v", ids, err)
			}
		}},
	}
}
