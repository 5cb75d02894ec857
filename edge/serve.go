package edge

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
)

// ServeOptions say what [Serve] serves and when it reads its config again.
type ServeOptions struct {
	// ConfigPath is the config.yaml to serve and follow.
	ConfigPath string
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
	// Reload asks for the config file to be read again and applied, once a
	// value; airlock-edge delivers SIGHUP on it. Nil (or closed): only
	// changes of the file reload it.
	Reload <-chan os.Signal
	// Advertise, when set, stands for the config's advertise: at start and
	// at every reload (`serve --advertise`: one config for several edges,
	// each told its own address, e.g. a pod's IP from the downward API).
	Advertise string
}

// load reads the config at opts.ConfigPath with the options' overrides.
func (opts ServeOptions) load() (*Config, error) {
	cfg, err := LoadConfig(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	if err := opts.override(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// override applies the options' overrides to a loaded config.
func (opts ServeOptions) override(cfg *Config) error {
	if opts.Advertise == "" {
		return nil
	}
	cfg.Advertise = opts.Advertise
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("serve --advertise: %w", err)
	}
	return nil
}

// Serve is the life of `airlock-edge serve`: it loads the config at
// opts.ConfigPath, binds the edge ([New]) and serves ([Server.Run]) until ctx
// ends. Meanwhile a change of the file ([WatchConfig]) or a value on
// opts.Reload reads it again and applies it with [Server.Reload] without
// dropping tunnels; a config that does not load or apply is logged and the
// running one kept. It returns what Run returns, once the watcher and the
// reload loop have stopped.
func Serve(ctx context.Context, opts ServeOptions) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := opts.load()
	if err != nil {
		return err
	}
	srv, err := New(cfg, Options{Logger: log})
	if err != nil {
		return err
	}
	// The watcher and the reload loop live exactly as long as the server.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var g errgroup.Group
	defer func() { stopWatch(); g.Wait() }()
	g.Go(func() error {
		reload := func(cfg *Config) error {
			if err := opts.override(cfg); err != nil {
				return err
			}
			return srv.Reload(cfg)
		}
		if err := WatchConfig(watchCtx, opts.ConfigPath, log, reload); err != nil {
			log.Warn("config file not watched; reload with SIGHUP", "err", err)
		}
		return nil
	})
	g.Go(func() error {
		reload := opts.Reload
		for {
			select {
			case <-watchCtx.Done():
				return nil
			case _, ok := <-reload:
				if !ok { // closed: no more requests
					reload = nil
					continue
				}
				next, err := opts.load()
				if err == nil {
					err = srv.Reload(next)
				}
				if err != nil {
					log.Error("config reload failed; keeping the running config", "err", err)
				}
			}
		}
	})
	start := time.Now()
	err = srv.Run(ctx)
	log.Info("airlock-edge exiting", "uptime", time.Since(start).Round(time.Second))
	return err
}
