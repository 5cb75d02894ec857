package oauth_test

import (
	"testing"

	"github.com/airlockhq/airlock/edge/edgeserver"
)

func rotateKey(tb testing.TB, f *fixture) string {
	tb.Helper()
	kid, err := edgeserver.RotateKey(f.e.ConfigPath)
	if err != nil {
		tb.Fatal(err)
	}
	f.e.Reload(tb)
	return kid
}
