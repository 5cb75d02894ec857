package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/edge"
	"golang.org/x/crypto/bcrypt"
)

func TestUserAndKeyCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	mustRun(t, "", "init", "--dir", dir, "--http-listen", "127.0.0.1:0")
	path := filepath.Join(dir, "config.yaml")

	if out := mustRun(t, "s3cret-pass\n", "user", "add", "Alice@Example.com", "--group", "sre", "--group", "dev", "--password-stdin", "--dir", dir); !strings.Contains(out, "added user alice@example.com") {
		t.Fatalf("user add:\n%s", out)
	}
	cfg, err := edge.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Users) != 1 || cfg.Users[0].Email != "alice@example.com" || len(cfg.Users[0].Groups) != 2 {
		t.Fatalf("users %+v", cfg.Users)
	}
	if bcrypt.CompareHashAndPassword([]byte(cfg.Users[0].PasswordHash), []byte("s3cret-pass")) != nil {
		t.Fatal("the stored hash does not match the password")
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "s3cret-pass") || !strings.Contains(string(raw), "# Who may sign in.") {
		t.Fatalf("the config holds the password or lost its comments:\n%s", raw)
	}
	if out := mustRun(t, "an0ther-pass\n", "user", "add", "alice@example.com", "--password-stdin", "--dir", dir); !strings.Contains(out, "updated user") {
		t.Fatalf("user add again: %s", out)
	}

	if out := mustRun(t, "", "user", "revoke", "alice@example.com", "--dir", dir); !strings.Contains(out, "revoked") {
		t.Fatalf("user revoke: %s", out)
	}
	if cfg, _ = edge.LoadConfig(path); len(cfg.Revocations) != 1 || cfg.Revocations[0].Email != "alice@example.com" {
		t.Fatalf("revocations %+v", cfg.Revocations)
	}

	oldKID := cfg.Tokens.SigningKeys[0].ID
	out := mustRun(t, "", "key", "rotate", "--dir", dir)
	cfg, err = edge.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tokens.SigningKeys) != 2 || cfg.Tokens.SigningKeys[1].ID != oldKID || !strings.Contains(out, cfg.Tokens.SigningKeys[0].ID) {
		t.Fatalf("signing keys after rotate %+v\n%s", cfg.Tokens.SigningKeys, out)
	}
	if _, err := cfg.PublicKeys(); err != nil {
		t.Fatalf("the new key file: %v", err)
	}

	mustRun(t, "", "user", "remove", "alice@example.com", "--dir", dir)
	if cfg, _ = edge.LoadConfig(path); len(cfg.Users) != 0 {
		t.Fatalf("users after remove %+v", cfg.Users)
	}

	checkFailures(t, []failure{
		{name: "user without subcommand", args: []string{"user"}, usage: true, msg: "add, remove or revoke"},
		{name: "user unknown subcommand", args: []string{"user", "delete", "a@b.c"}, usage: true, msg: "delete"},
		{name: "add bad email", stdin: "pw-long-enough\n", args: []string{"user", "add", "bob", "--password-stdin", "--dir", dir}, usage: true, msg: "not an email"},
		{name: "add no password", args: []string{"user", "add", "bob@example.com", "--password-stdin", "--dir", dir}, msg: "no password"},
		{name: "add short password", stdin: "short\n", args: []string{"user", "add", "bob@example.com", "--password-stdin", "--dir", dir}, msg: "at least 8"},
		{name: "add not a terminal", args: []string{"user", "add", "bob@example.com", "--dir", dir}, msg: "--password-stdin"},
		{name: "remove unknown", args: []string{"user", "remove", "nobody@example.com", "--dir", dir}, msg: "not in the config"},
		{name: "revoke bad email", args: []string{"user", "revoke", "nobody", "--dir", dir}, msg: "not an email"},
		{name: "key without rotate", args: []string{"key"}, usage: true, msg: "rotate"},
	})
}
