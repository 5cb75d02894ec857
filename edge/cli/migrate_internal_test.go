package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestMigrate runs cmdMigrate, which the lead registers as
// `airlock-edge migrate`, against a real PostgreSQL.
func TestMigrate(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)
	dsn := c.NewDatabase(ctx, t)
	urlFile := filepath.Join(t.TempDir(), "store-url")
	if err := os.WriteFile(urlFile, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := cmdMigrate(ctx, args, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	// The newest version is the number of migrations the store embeds
	// (00001_…, 00002_…: numbered without gaps).
	sqls, err := filepath.Glob("../store/postgres/migrations/*.sql")
	if err != nil || len(sqls) == 0 {
		t.Fatalf("migrations: %v, %v", sqls, err)
	}
	newest := len(sqls)
	for _, step := range []struct {
		name, want, log string
		args            []string
	}{
		{"status before", fmt.Sprintf("version 0, %d migration(s) pending", newest), "", []string{"--status", "--store-url-file", urlFile}},
		{"migrate", fmt.Sprintf("version %d, up to date", newest), "applied migration", []string{"--store-url-file", urlFile}},
		{"again", fmt.Sprintf("version %d, up to date", newest), "", []string{"--store-url-file", urlFile}},
	} {
		t.Run(step.name, func(t *testing.T) {
			out, log, err := run(step.args...)
			if err != nil || !strings.Contains(out, step.want) || !strings.Contains(log, step.log) {
				t.Fatalf("stdout %q, stderr %q, %v", out, log, err)
			}
			if strings.Contains(out+log, c.Password) {
				t.Fatal("the password was printed")
			}
		})
	}

	for _, bad := range []struct {
		name  string
		args  []string
		usage bool
		msg   string
	}{
		{"a password on the command line", []string{"--store-url", dsn}, true, "holds a password"},
		{"no database and no config", []string{"--dir", filepath.Join(t.TempDir(), "none")}, false, "read edge config"},
		{"both", []string{"--store-url-file", urlFile, "--store-url", "postgres://db/x"}, true, "not both"},
		{"a stray argument", []string{"--store-url-file", urlFile, "now"}, true, "no arguments"},
		{"a missing file", []string{"--store-url-file", urlFile + ".missing"}, false, "no such file"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, _, err := run(bad.args...)
			_, isUsage := err.(usageError)
			if err == nil || isUsage != bad.usage || !strings.Contains(err.Error(), bad.msg) {
				t.Fatalf("%v (usage %v), want one naming %q", err, isUsage, bad.msg)
			}
			if strings.Contains(err.Error(), c.Password) {
				t.Fatal("the error shows the password")
			}
		})
	}
}
