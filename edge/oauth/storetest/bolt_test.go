package storetest_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/edge/oauth/storetest"
)

// TestBoltStore runs the contract against the embedded store.
func TestBoltStore(t *testing.T) {
	n := storetest.Run(t, func(tb testing.TB) oauth.Store {
		st, err := oauth.OpenBoltStore(filepath.Join(tb.TempDir(), "signin.db"), time.Second)
		if err != nil {
			tb.Fatal(err)
		}
		return st
	})
	t.Logf("%d contract cases", n)
}
