package edge

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/token"
)

// initState makes a state folder in a temp dir and returns the config path.
func initState(tb testing.TB) string {
	tb.Helper()
	path, err := Init(filepath.Join(tb.TempDir(), "state"), InitOptions{HTTPListen: "127.0.0.1:0"})
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestInitCreateMintRoundTrip(t *testing.T) {
	path := initState(t)
	dir := filepath.Dir(path)
	for name, mode := range map[string]os.FileMode{
		ConfigFile: 0o600, CAKeyFile: 0o600, KeyFile: 0o600, CACertFile: 0o644, CertFile: 0o644,
	} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", name, st.Mode().Perm(), mode)
		}
	}
	if _, err := Init(dir, InitOptions{}); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second init: %v, want a refusal naming --force", err)
	}

	ct, err := CreateTunnel(path, "demo", TunnelOptions{
		Hostnames: []string{"k8s.demo.test", "Web.demo.test"},
		Policy:    Policy{Allow: Rule{EmailDomains: []string{"example.com"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ct.NewApps) != 2 {
		t.Fatalf("new apps %v", ct.NewApps)
	}
	st, err := os.Stat(ct.CredentialsFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", st, err)
	}
	c, err := credentials.ReadCredentials(ct.CredentialsFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CAPool(); err != nil || c.ServerName != "localhost" || c.TunnelName != "demo" {
		t.Fatalf("credentials: %v", err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), c.Secret) {
		t.Fatal("the config holds the secret itself")
	}
	if !strings.Contains(string(raw), "# Connectors' identities") {
		t.Fatalf("the edit lost the comments:\n%s", raw)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	if len(cfg.Tunnels) != 1 || cfg.Tunnels[0].SecretHash != HashSecret(c.Secret) || cfg.Tunnels[0].ID != c.TunnelID {
		t.Fatalf("tunnels %+v", cfg.Tunnels)
	}

	if _, err := CreateTunnel(path, "demo", TunnelOptions{Hostnames: []string{"x.test"}}); err == nil {
		t.Fatal("a duplicate tunnel name was accepted")
	}
	if _, err := CreateTunnel(path, "other", TunnelOptions{Hostnames: []string{"k8s.demo.test"}}); err == nil || !strings.Contains(err.Error(), "already served by tunnel demo") {
		t.Fatalf("a hostname in two tunnels: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(raw) {
		t.Fatal("a refused tunnel create changed the config")
	}
	ct2, err := CreateTunnel(path, "second", TunnelOptions{Hostnames: []string{"db.demo.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if ct2.Credentials.TunnelID == c.TunnelID || ct2.Credentials.Secret == c.Secret {
		t.Fatal("two tunnels share an id or secret")
	}

	tok, rec, err := MintToken(path, MintOptions{App: "k8s.demo.test", Email: "alice@example.com", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cfg.PublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(keys, token.VerifierOptions{Issuer: cfg.Tokens.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(tok, "k8s.demo.test")
	if err != nil {
		t.Fatal(err)
	}
	if claims.Email != "alice@example.com" || claims.Kind != token.KindService || claims.ID != rec.ID || !claims.ExpiresAt.Equal(rec.Expires) {
		t.Fatalf("claims %+v, record %+v", claims, rec)
	}
	if len(cfg.ServiceTokens) != 1 || cfg.ServiceTokens[0].ID != rec.ID {
		t.Fatalf("service_tokens %+v, want the minted token's record", cfg.ServiceTokens)
	}
	for name, o := range map[string]MintOptions{
		"unknown app": {App: "nope.test", Email: "a@example.com"},
		"bad email":   {App: "k8s.demo.test", Email: "alice"},
		"ttl too big": {App: "k8s.demo.test", Email: "a@example.com", TTL: 10000 * time.Hour},
	} {
		if _, _, err := MintToken(path, o); err == nil {
			t.Errorf("%s: minted", name)
		}
	}
	if _, err := v.Verify(tok, "db.demo.test"); !errors.Is(err, token.ErrWrongAudience) {
		t.Fatalf("other app: %v", err)
	}
}
