package app_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the daemon's heavy parts out of the tray, like tailscale's
// cmd/tailscaled/deps_test.go: the tray reaches the daemon only through the
// control API client, and the keychain's D-Bus traffic never runs in the
// tray's process.
func TestDeps(t *testing.T) {
	for _, pkg := range []string{"github.com/airlockhq/airlock/tray/app", "github.com/airlockhq/airlock/tray/cli"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for _, bad := range []string{
			"github.com/quic-go/quic-go",
			"github.com/zalando/go-keyring",
			"github.com/fsnotify/fsnotify",
			"github.com/things-go/go-socks5",
			"github.com/airlockhq/airlock/daemon/core",
			"github.com/airlockhq/airlock/daemon/kubeconfig",
			"github.com/airlockhq/airlock/edge/edgeclient",
		} {
			if deps[bad] {
				t.Errorf("%s depends on %s", pkg, bad)
			}
		}
		if pkg == "github.com/airlockhq/airlock/tray/app" && !deps["github.com/airlockhq/airlock/daemon/client"] {
			t.Errorf("%s does not use the control API client", pkg)
		}
	}
}
