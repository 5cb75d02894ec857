package edge

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/credentials"
)

func TestRotateTunnel(t *testing.T) {
	path := initState(t)
	ct, err := CreateTunnel(path, "demo", TunnelOptions{Hostnames: []string{"k8s.demo.test"}, Policy: Policy{Allow: Rule{EmailDomains: []string{"example.com"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateTunnel(path, "other", TunnelOptions{Hostnames: []string{"other.demo.test"}}); err != nil {
		t.Fatal(err)
	}
	before, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("replaces the secret, keeps the rest", func(t *testing.T) {
		rt, err := RotateTunnel(path, "demo", RotateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rt.CredentialsFile != ct.CredentialsFile {
			t.Fatalf("credentials written to %s, want %s (where tunnel create put them)", rt.CredentialsFile, ct.CredentialsFile)
		}
		onDisk, err := credentials.ReadCredentials(rt.CredentialsFile)
		if err != nil {
			t.Fatal(err)
		}
		if onDisk.Secret != rt.Credentials.Secret || onDisk.Secret == ct.Credentials.Secret || onDisk.TunnelID != ct.Credentials.TunnelID {
			t.Fatalf("credentials %+v: want a new secret for the same tunnel id", onDisk)
		}
		if st, err := os.Stat(rt.CredentialsFile); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("credentials file mode: %v %v", st, err)
		}
		after, err := LoadConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, tun := range after.Tunnels {
			was := before.Tunnels[i]
			switch tun.Name {
			case "demo":
				if tun.SecretHash != HashSecret(onDisk.Secret) || tun.ID != was.ID || len(tun.Hostnames) != 1 {
					t.Fatalf("tunnel after rotation %+v", tun)
				}
			default:
				if tun.SecretHash != was.SecretHash {
					t.Fatalf("rotating demo changed tunnel %s", tun.Name)
				}
			}
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(raw, []byte("# Connectors' identities")) {
			t.Fatal("the rotation lost the config's comments")
		}
	})

	t.Run("to another file", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "demo.json")
		rt, err := RotateTunnel(path, "demo", RotateOptions{CredentialsFile: other})
		if err != nil {
			t.Fatal(err)
		}
		if c, err := credentials.ReadCredentials(other); err != nil || c.Secret != rt.Credentials.Secret {
			t.Fatalf("credentials at %s: %+v, %v", other, c, err)
		}
	})

	t.Run("failures change nothing", func(t *testing.T) {
		cfgBefore, _ := os.ReadFile(path)
		credsBefore, _ := os.ReadFile(ct.CredentialsFile)
		cases := []struct {
			name, tunnel, creds, msg string
		}{
			{"unknown tunnel", "nope", "", `no tunnel "nope"`},
			{"unwritable credentials", "demo", filepath.Join(ct.CredentialsFile, "under-a-file.json"), "not a directory"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := RotateTunnel(path, tc.tunnel, RotateOptions{CredentialsFile: tc.creds})
				if err == nil || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err %v, want one naming %q", err, tc.msg)
				}
				if cfg, _ := os.ReadFile(path); !bytes.Equal(cfg, cfgBefore) {
					t.Fatal("the config changed")
				}
				if c, _ := os.ReadFile(ct.CredentialsFile); !bytes.Equal(c, credsBefore) {
					t.Fatal("the credentials file changed")
				}
			})
		}
	})
}

func TestTunnelMaxConnectionsValidated(t *testing.T) {
	path := initState(t)
	if _, err := CreateTunnel(path, "demo", TunnelOptions{Hostnames: []string{"k8s.demo.test"}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{-1, MaxTunnelConnections + 1} {
		_, err := UpdateConfig(path, func(c *Config) error {
			c.Tunnels[0].MaxConnections = n
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "tunnels[0].max_connections") {
			t.Errorf("max_connections %d: %v, want a refusal naming the field", n, err)
		}
	}
}
