package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/edge"
	"golang.org/x/crypto/bcrypt"
)

func runWithStdin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

func TestUserAndKeyCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, err := runWithStdin(t, "", "init", "--dir", dir, "--http-listen", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")

	out, err := runWithStdin(t, "s3cret-pass\n", "user", "add", "Alice@Example.com", "--group", "sre", "--group", "dev", "--password-stdin", "--dir", dir)
	if err != nil || !strings.Contains(out, "added user alice@example.com") {
		t.Fatalf("user add: %v\n%s", err, out)
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
	if out, err := runWithStdin(t, "an0ther-pass\n", "user", "add", "alice@example.com", "--password-stdin", "--dir", dir); err != nil || !strings.Contains(out, "updated user") {
		t.Fatalf("user add again: %v %s", err, out)
	}

	if out, err := runWithStdin(t, "", "user", "revoke", "alice@example.com", "--dir", dir); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("user revoke: %v %s", err, out)
	}
	if cfg, _ = edge.LoadConfig(path); len(cfg.Revocations) != 1 || cfg.Revocations[0].Email != "alice@example.com" {
		t.Fatalf("revocations %+v", cfg.Revocations)
	}

	oldKID := cfg.Tokens.SigningKeys[0].ID
	out, err = runWithStdin(t, "", "key", "rotate", "--dir", dir)
	if err != nil {
		t.Fatalf("key rotate: %v", err)
	}
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

	if _, err := runWithStdin(t, "", "user", "remove", "alice@example.com", "--dir", dir); err != nil {
		t.Fatal(err)
	}
	if cfg, _ = edge.LoadConfig(path); len(cfg.Users) != 0 {
		t.Fatalf("users after remove %+v", cfg.Users)
	}

	bad := []struct {
		name, stdin string
		args        []string
		usage       bool
		msg         string
	}{
		{"user without subcommand", "", []string{"user"}, true, "add, remove or revoke"},
		{"user unknown subcommand", "", []string{"user", "delete", "a@b.c"}, true, "delete"},
		{"add bad email", "pw-long-enough\n", []string{"user", "add", "bob", "--password-stdin", "--dir", dir}, true, "not an email"},
		{"add no password", "", []string{"user", "add", "bob@example.com", "--password-stdin", "--dir", dir}, false, "no password"},
		{"add short password", "short\n", []string{"user", "add", "bob@example.com", "--password-stdin", "--dir", dir}, false, "at least 8"},
		{"add not a terminal", "", []string{"user", "add", "bob@example.com", "--dir", dir}, false, "--password-stdin"},
		{"remove unknown", "", []string{"user", "remove", "nobody@example.com", "--dir", dir}, false, "not in the config"},
		{"revoke bad email", "", []string{"user", "revoke", "nobody", "--dir", dir}, false, "not an email"},
		{"key without rotate", "", []string{"key"}, true, "rotate"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runWithStdin(t, tc.stdin, tc.args...)
			var ue usageError
			if err == nil || errors.As(err, &ue) != tc.usage || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want a usage=%v error naming %q", err, tc.usage, tc.msg)
			}
		})
	}
}
