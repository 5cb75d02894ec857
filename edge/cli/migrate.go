package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/airlockhq/airlock/edge/store/postgres"
)

// cmdMigrate is `airlock-edge migrate`: it applies the store's pending
// migrations (each logged to stderr) and prints the schema version.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr, "migrate --store-url-file F | --store-url URL [--status]")
	var (
		urlFile = fs.String("store-url-file", "", "credentials `file` holding the database URL (0600; a bare name is read from $CREDENTIALS_DIRECTORY)")
		rawURL  = fs.String("store-url", "", "database `URL` without a password (the password from ~/.pgpass or $PGPASSFILE)")
		status  = fs.Bool("status", false, "print the schema versions, change nothing")
	)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("migrate takes no arguments, got %q", pos[0])
	}
	var dbURL string
	switch {
	case *urlFile != "" && *rawURL != "":
		return usagef("migrate: give --store-url-file or --store-url, not both")
	case *urlFile != "":
		if dbURL, err = postgres.ReadURLFile(*urlFile); err != nil {
			return err
		}
	case *rawURL != "":
		if err := postgres.CheckCommandLineURL(*rawURL); err != nil {
			return usagef("migrate: --store-url: %v", err)
		}
		dbURL = *rawURL
	default:
		return usagef("migrate: give the database with --store-url-file F")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	st, err := postgres.Connect(ctx, postgres.Options{URL: dbURL, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	if !*status {
		if err := st.Migrate(ctx); err != nil {
			return err
		}
	}
	cur, newest, err := st.Versions(ctx)
	if err != nil {
		return err
	}
	switch {
	case cur == newest:
		fmt.Fprintf(stdout, "store schema at version %d, up to date\n", cur)
	case cur > newest:
		fmt.Fprintf(stdout, "store schema at version %d, newer than this airlock-edge's %d (a newer edge migrated it)\n", cur, newest)
	default:
		fmt.Fprintf(stdout, "store schema at version %d, %d migration(s) pending: run airlock-edge migrate\n", cur, newest-cur)
		if !*status {
			return errors.New("migrations still pending after migrate")
		}
	}
	return nil
}
