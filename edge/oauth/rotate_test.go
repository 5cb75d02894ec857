package oauth_test

import (
	"github.com/airlockhq/airlock/edge"
	"testing"
)

func rotateKey(tb testing.TB, f *fixture) string {
	tb.Helper()
	kid, err := edge.RotateKey(f.e.ConfigPath)
	if err != nil {
		tb.Fatal(err)
	}
	f.e.Reload(tb)
	return kid
}
