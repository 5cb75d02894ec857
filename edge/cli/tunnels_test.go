package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/credentials"
)

func TestTunnelRotate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustRun(t, "", "init", "--dir", dir)
	mustRun(t, "", "tunnel", "create", "demo", "--hostname", "k8s.demo.test", "--dir", dir)
	credsFile := filepath.Join(dir, "tunnels", "demo.json")
	old, err := credentials.ReadCredentials(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "", "tunnel", "rotate", "demo", "--dir", dir)
	if !strings.Contains(out, credsFile) || !strings.Contains(out, old.TunnelID) {
		t.Fatalf("tunnel rotate output names neither the credentials file nor the tunnel id:\n%s", out)
	}
	c, err := credentials.ReadCredentials(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	if c.TunnelID != old.TunnelID || c.Secret == old.Secret {
		t.Fatalf("after rotate: tunnel %s (was %s), the same secret: %v", c.TunnelID, old.TunnelID, c.Secret == old.Secret)
	}
	if strings.Contains(out, c.Secret) {
		t.Fatal("tunnel rotate printed the secret")
	}
	checkFailures(t, []failure{
		{name: "no name", args: []string{"tunnel", "rotate", "--dir", dir}, usage: true, msg: "exactly one tunnel NAME"},
		{name: "unknown tunnel", args: []string{"tunnel", "rotate", "nope", "--dir", dir}, msg: `no tunnel "nope"`},
		{name: "unknown subcommand", args: []string{"tunnel", "frob"}, usage: true, msg: `unknown subcommand "frob"`},
		{name: "no subcommand", args: []string{"tunnel"}, usage: true, msg: "create or rotate"},
	})
}
