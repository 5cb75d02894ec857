package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/store/postgres"
)

// cmdMigrate is `airlock-edge migrate`: it applies the store's pending
// migrations (each logged to stderr) and prints the schema version. The
// database is the edge config's store: section, or --store-url-file F (a
// host with no edge config: a deploy job), or --store-url URL when it holds
// no password.
func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr, "migrate [--dir D | --config F | --store-url-file F | --store-url URL] [--status]")
	var loc location
	loc.register(fs)
	var (
		urlFile = fs.String("store-url-file", "", "credentials `file` holding the database URL (0600; a bare name is read from $CREDENTIALS_DIRECTORY); default: the config's store.url_file")
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
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var o postgres.Options
	switch {
	case *urlFile != "" && *rawURL != "":
		return usagef("migrate: give --store-url-file or --store-url, not both")
	case *urlFile != "":
		if o.URL, err = postgres.ReadURLFile(*urlFile); err != nil {
			return err
		}
	case *rawURL != "":
		if err := postgres.CheckCommandLineURL(*rawURL); err != nil {
			return usagef("migrate: --store-url: %v", err)
		}
		o.URL = *rawURL
	default:
		cfg, err := edge.LoadConfig(loc.path())
		if err != nil {
			return err
		}
		if o, err = cfg.StoreOptions(log); err != nil {
			return usagef("migrate: %v; or give the database with --store-url-file F", err)
		}
	}
	o.Logger = log
	st, err := postgres.Connect(ctx, o)
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

// migrateForServe is `serve --migrate`: with a store: section in the config
// at path, it brings the shared store's schema up to date before the edge
// opens it (several edges starting at once take turns on goose's lock row).
// Without one there is nothing to migrate.
func migrateForServe(ctx context.Context, path string, log *slog.Logger) error {
	cfg, err := edge.LoadConfig(path)
	if err != nil {
		return err
	}
	if cfg.Store == nil {
		log.Info("serve --migrate: no store: section, the embedded store needs no migrations")
		return nil
	}
	o, err := cfg.StoreOptions(log)
	if err != nil {
		return err
	}
	o.Migrate = true
	st, err := postgres.Open(ctx, o)
	if err != nil {
		return fmt.Errorf("serve --migrate: %w", err)
	}
	return st.Close()
}
