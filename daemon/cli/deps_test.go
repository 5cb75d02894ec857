package cli_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The CLI (and the tray after it) reach the daemon only through the
// control API client: the core's heavy dependencies stay out.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/airlockhq/airlock/tray/cli").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, bad := range []string{"github.com/quic-go/quic-go", "github.com/zalando/go-keyring", "github.com/fsnotify/fsnotify", "github.com/airlockhq/airlock/daemon/core", "github.com/things-go/go-socks5"} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == bad {
				t.Errorf("tray/cli depends on %s", bad)
			}
		}
	}
}
