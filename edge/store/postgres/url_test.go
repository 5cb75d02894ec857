package postgres_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/edge/store/postgres"
)

func TestReadURLFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const good = "postgres://airlock:s3cret@db.example.com:5432/airlock?sslmode=verify-full"
	for _, c := range []struct {
		name, body string
		mode       os.FileMode
		want       string // "" for success
	}{
		{"one line", good + "\n", 0o600, ""},
		{"group may read", good, 0o640, ""},
		{"world readable", good, 0o644, "every user"},
		{"two lines", good + "\n" + good, 0o600, "one line"},
		{"empty", "\n", 0o600, "one line"},
		{"oversize", strings.Repeat("x", 5000), 0o600, "longer than"},
		{"not a URL", "postgres://s3cret@[::1", 0o600, "not a database URL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := postgres.ReadURLFile(write(strings.ReplaceAll(c.name, " ", "-"), c.body, c.mode))
			switch {
			case c.want == "" && (err != nil || got != good):
				t.Fatalf("%q, %v", got, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("%v, want an error naming %q", err, c.want)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
	t.Run("a bare name is a systemd credential", func(t *testing.T) {
		write("store-url", good, 0o600)
		t.Setenv("CREDENTIALS_DIRECTORY", dir)
		if got, err := postgres.ReadURLFile("store-url"); err != nil || got != good {
			t.Fatalf("%q, %v", got, err)
		}
		t.Setenv("CREDENTIALS_DIRECTORY", "")
		if _, err := postgres.ReadURLFile("store-url"); err == nil || !strings.Contains(err.Error(), "CREDENTIALS_DIRECTORY") {
			t.Fatalf("%v", err)
		}
	})
}

func TestCheckCommandLineURL(t *testing.T) {
	for s, ok := range map[string]bool{
		"postgres://airlock@db:5432/airlock?sslmode=verify-full": true,
		"postgres://db/airlock":                                  true,
		"host=db user=airlock dbname=airlock":                    true,
		"postgres://airlock:pw@db/airlock":                       false,
		"postgresql://airlock:@db/airlock":                       false,
		"postgres://db/airlock?password=pw":                      false,
		"host=db user=airlock password=pw":                       false,
		"host=db password = pw":                                  false,
	} {
		err := postgres.CheckCommandLineURL(s)
		if ok != (err == nil) || err != nil && !errors.Is(err, postgres.ErrPasswordInURL) {
			t.Errorf("%q: %v", s, err)
		}
	}
}
