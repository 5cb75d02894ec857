package edge

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/edge/store/postgres"
)

// MaxStoreConns bounds store.max_conns.
const MaxStoreConns = 1000

// StoreConfig is `store:`, the PostgreSQL database a fleet of edges shares
// (refresh families, codes, device grants, revocations). Absent, each edge
// keeps its own embedded store_file.
//
// There is deliberately no url key: the config is often world-readable
// (0644, a ConfigMap), and the URL carries the database password.
type StoreConfig struct {
	// URLFile is the credentials file holding the database URL, one line
	// (postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=verify-full, or a
	// libpq key=value string), mode 0600 or 0640. A bare name (no slash)
	// is read from $CREDENTIALS_DIRECTORY (systemd's LoadCredential=);
	// other relative paths resolve against the config's folder.
	URLFile string `yaml:"url_file"`
	// MaxConns is this edge's pool (default 10); the revocation watch
	// holds one connection more.
	MaxConns int32 `yaml:"max_conns,omitempty"`
	// QueryTimeout bounds each store call, retries included (default 5s).
	QueryTimeout Duration `yaml:"query_timeout,omitempty"`
}

// UnmarshalYAML implements yaml.Unmarshaler: the fields of StoreConfig
// and no others, and a store.url names the reason it is refused.
func (s *StoreConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: store: want a mapping (url_file, max_conns, query_timeout)", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; k.Value {
		case "url_file", "max_conns", "query_timeout":
		case "url":
			return fmt.Errorf("line %d: store.url is not accepted: the URL holds the database password and a config file is read by many; put it in a credentials file named by store.url_file", k.Line)
		default:
			return fmt.Errorf("line %d: store: unknown field %q (url_file, max_conns, query_timeout)", k.Line, k.Value)
		}
	}
	type plain StoreConfig
	return n.Decode((*plain)(s))
}

func (c *Config) validateStore(v *validator) {
	if c.Store == nil {
		return
	}
	if c.StoreFile != "" {
		v.add("store_file", "is the embedded store of one edge; with store: the edges share the database (remove store_file)")
	}
	v.required("store.url_file", c.Store.URLFile)
	if c.Store.MaxConns < 0 || c.Store.MaxConns > MaxStoreConns {
		v.add("store.max_conns", fmt.Sprintf("%d is outside [1, %d] (0: the default, %d)", c.Store.MaxConns, MaxStoreConns, postgres.DefaultMaxConns))
	}
	if c.Store.QueryTimeout < 0 {
		v.add("store.query_timeout", "must be positive")
	}
}

// storeURLFile is the path of store.url_file as [postgres.ReadURLFile]
// takes it: a bare name stays bare (looked up in $CREDENTIALS_DIRECTORY),
// another relative path resolves against the config's folder.
func (c *Config) storeURLFile() string {
	if f := c.Store.URLFile; strings.ContainsRune(f, '/') {
		return c.Path(f)
	}
	return c.Store.URLFile
}

// StoreOptions are the [postgres.Options] of cfg's store: section, the URL
// read from its credentials file (nil store: gives an error).
func (c *Config) StoreOptions(log *slog.Logger) (postgres.Options, error) {
	if c.Store == nil {
		return postgres.Options{}, fmt.Errorf("edge config has no store: section (the embedded store_file needs no migrations)")
	}
	u, err := postgres.ReadURLFile(c.storeURLFile())
	if err != nil {
		return postgres.Options{}, fmt.Errorf("store.url_file: %w", err)
	}
	return postgres.Options{
		URL: u, MaxConns: c.Store.MaxConns, QueryTimeout: time.Duration(c.Store.QueryTimeout),
		Logger: log.With("part", "store"),
	}, nil
}

// openStore opens the sign-in store cfg names: the shared PostgreSQL
// database of store:, whose schema must be up to date (airlock-edge
// migrate, or serve --migrate, brings it there), else the embedded bbolt
// store_file.
func openStore(ctx context.Context, cfg *Config, log *slog.Logger) (oauth.Store, error) {
	if cfg.Store == nil {
		st, err := oauth.OpenBoltStore(cfg.Path(cfg.StoreFile), 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("store_file: %w", err)
		}
		return st, nil
	}
	o, err := cfg.StoreOptions(log)
	if err != nil {
		return nil, err
	}
	st, err := postgres.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return st, nil
}

// storeChange says what a reload cannot apply of the store sections ("" if
// they are the same): the store is opened once, at start.
func storeChange(old, next *Config) string {
	if old.StoreFile != next.StoreFile || !reflect.DeepEqual(old.Store, next.Store) {
		return "store_file or store: changed: the edge keeps the store it opened until it restarts"
	}
	return ""
}
