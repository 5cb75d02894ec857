package cli

import "testing"

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/x/state")
	if d := defaultDir(); d != "/x/state/airlock-edge" {
		t.Fatalf("defaultDir = %q", d)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d := defaultDir(); d != "/home/u/.local/state/airlock-edge" {
		t.Fatalf("defaultDir = %q", d)
	}
}
