package cli_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/cli"
	"github.com/airlockhq/airlock/edge/store/postgres"
	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestMigrateFromConfig runs `airlock-edge migrate` and `serve --migrate`
// on the database a state folder's store: section names, against a real
// PostgreSQL.
func TestMigrateFromConfig(t *testing.T) {
	ctx := testenv.Context(t)
	c := pgtest.Start(ctx, t)

	// fleetDir is a state folder whose config names a new database.
	fleetDir := func(t *testing.T) (dir, dsn string) {
		dir = filepath.Join(t.TempDir(), "state")
		mustRun(t, "", "init", "--dir", dir)
		dsn = c.NewDatabase(ctx, t)
		if err := os.WriteFile(filepath.Join(dir, "store-url"), []byte(dsn+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := edge.UpdateConfig(filepath.Join(dir, edge.ConfigFile), func(cfg *edge.Config) error {
			cfg.StoreFile, cfg.Store = "", &edge.StoreConfig{URLFile: "./store-url"}
			// Free loopback ports for serve.
			cfg.Listen, cfg.AdminListen, cfg.HTTPListen, cfg.PublicAddrs = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", nil
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return dir, dsn
	}

	t.Run("migrate", func(t *testing.T) {
		dir, dsn := fleetDir(t)
		if out := mustRun(t, "", "migrate", "--status", "--dir", dir); !strings.Contains(out, "pending") {
			t.Fatalf("status before: %q", out)
		}
		code, out, errOut := runCmd(t, "", "migrate", "--dir", dir)
		if code != 0 || !strings.Contains(out, "up to date") || !strings.Contains(errOut, "applied migration") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		if strings.Contains(out+errOut, c.Password) {
			t.Fatal("the password was printed")
		}
		st, err := postgres.Open(ctx, postgres.Options{URL: dsn})
		if err != nil {
			t.Fatalf("open after migrate: %v", err)
		}
		st.Close()
	})

	t.Run("serve refuses a schema behind", func(t *testing.T) {
		dir, _ := fleetDir(t)
		checkFailures(t, []failure{{name: "serve", args: []string{"serve", "--dir", dir}, msg: "airlock-edge migrate"}})
	})

	t.Run("serve --migrate", func(t *testing.T) {
		dir, dsn := fleetDir(t)
		// serve migrates, then opens the store and serves until ctx ends.
		sctx, cancel := context.WithCancel(ctx)
		var errOut testenv.Buffer
		done := make(chan int, 1)
		go func() {
			done <- cli.Command(sctx, []string{"serve", "--migrate", "--dir", dir}, cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errOut})
		}()
		testenv.Eventually(t, "the edge serving", func() bool {
			select {
			case code := <-done:
				t.Fatalf("serve --migrate exited %d\n%s", code, errOut.String())
			default:
			}
			return strings.Contains(errOut.String(), "edge serving")
		})
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("serve exited %d\n%s", code, errOut.String())
		}
		if !strings.Contains(errOut.String(), "applied migration") {
			t.Fatalf("serve --migrate logged no migration:\n%s", errOut.String())
		}
		st, err := postgres.Open(ctx, postgres.Options{URL: dsn})
		if err != nil {
			t.Fatalf("serve --migrate left the schema behind: %v", err)
		}
		st.Close()
	})

	t.Run("serve --advertise", func(t *testing.T) {
		dir, _ := fleetDir(t)
		mustRun(t, "", "migrate", "--dir", dir)
		// The flag stands for the config's advertise: the fleet tells
		// connectors this address for the edge.
		sctx, cancel := context.WithCancel(ctx)
		var errOut testenv.Buffer
		done := make(chan int, 1)
		go func() {
			done <- cli.Command(sctx, []string{"serve", "--dir", dir, "--advertise", "192.0.2.7:7844"}, cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errOut})
		}()
		testenv.Eventually(t, "the edge in the fleet", func() bool {
			select {
			case code := <-done:
				t.Fatalf("serve --advertise exited %d\n%s", code, errOut.String())
			default:
			}
			return strings.Contains(errOut.String(), "joined the fleet")
		})
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("serve exited %d\n%s", code, errOut.String())
		}
		if !strings.Contains(errOut.String(), "advertise=192.0.2.7:7844") {
			t.Fatalf("the edge did not advertise --advertise's address:\n%s", errOut.String())
		}
		checkFailures(t, []failure{{name: "a bad address", args: []string{"serve", "--dir", dir, "--advertise", "no-port"}, msg: "serve --advertise: advertise"}})
	})

	t.Run("no store section", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		mustRun(t, "", "init", "--dir", dir)
		checkFailures(t, []failure{{name: "migrate", args: []string{"migrate", "--dir", dir}, usage: true, msg: "no store: section"}})
	})
}

func TestUsageNamesMigrate(t *testing.T) {
	out := mustRun(t, "", "-h")
	for _, want := range []string{"migrate [--status]", "serve [--migrate]"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage does not show %q", want)
		}
	}
}
