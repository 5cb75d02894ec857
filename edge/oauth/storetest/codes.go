package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
)

func codeCases() []Case {
	return []Case{
		{"code/redeemed once, then used with its family", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			c := code(alice(), at(time.Minute))
			if err := st.PutCode(ctx, "k1", c); err != nil {
				t.Fatal(err)
			}
			got, err := st.RedeemCode(ctx, "k1", t0)
			if err != nil || got.ClientID != c.ClientID || got.RedirectURI != c.RedirectURI ||
				got.Challenge != c.Challenge || got.Identity.Email != "alice@example.com" || !got.Expires.Equal(c.Expires) {
				t.Fatalf("first redeem: %+v, %v", got, err)
			}
			if len(got.Identity.Groups) != 1 || got.Identity.Groups[0] != "dev" {
				t.Errorf("groups %v", got.Identity.Groups)
			}
			if err := st.SetCodeFamily(ctx, "k1", "fam1"); err != nil {
				t.Fatal(err)
			}
			got, err = st.RedeemCode(ctx, "k1", t0)
			if !errors.Is(err, oauth.ErrCodeUsed) || got.Family != "fam1" || !got.Used {
				t.Fatalf("second redeem: %+v, %v", got, err)
			}
		}},
		{"code/expired is refused and stays unused", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			if err := st.PutCode(ctx, "k1", code(alice(), at(time.Minute))); err != nil {
				t.Fatal(err)
			}
			for _, now := range []time.Time{at(time.Minute), at(time.Hour)} {
				if got, err := st.RedeemCode(ctx, "k1", now); !errors.Is(err, oauth.ErrExpired) || got.Used {
					t.Fatalf("at %s: %+v, %v", now, got, err)
				}
			}
			if _, err := st.RedeemCode(ctx, "k1", at(time.Minute-time.Second)); err != nil {
				t.Fatalf("before expiry: %v", err)
			}
		}},
		{"code/unknown", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			if _, err := st.RedeemCode(ctx, "nope", t0); !errors.Is(err, oauth.ErrNotFound) {
				t.Fatalf("redeem: %v", err)
			}
			if err := st.SetCodeFamily(ctx, "nope", "f"); !errors.Is(err, oauth.ErrNotFound) {
				t.Fatalf("set family: %v", err)
			}
		}},
		{"code/a key is stored once", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			if err := st.PutCode(ctx, "k1", code(alice(), at(time.Minute))); err != nil {
				t.Fatal(err)
			}
			if err := st.PutCode(ctx, "k1", code(bob(), at(time.Hour))); !errors.Is(err, oauth.ErrCodeUsed) {
				t.Fatalf("second put: %v", err)
			}
			if got, err := st.RedeemCode(ctx, "k1", t0); err != nil || got.Identity.Subject != "alice" {
				t.Fatalf("the first record was replaced: %+v, %v", got, err)
			}
		}},
		{"code/concurrent redeems: exactly one wins", func(t *testing.T, st oauth.Store) {
			ctx := ctxOf(t)
			if err := st.PutCode(ctx, "k1", code(alice(), at(time.Minute))); err != nil {
				t.Fatal(err)
			}
			const n = 16
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { _, errs[i] = st.RedeemCode(ctx, "k1", t0) })
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, oauth.ErrCodeUsed):
					t.Errorf("a loser got %v, want ErrCodeUsed", err)
				}
			}
			if won != 1 {
				t.Fatalf("%d of %d redeems won", won, n)
			}
		}},
	}
}
