package edge

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/airlockhq/airlock/internal/filewatch"
)

// WatchConfig reloads the config at path whenever it changes until ctx
// ends. The file is followed by [filewatch]: a write in place, a file
// renamed into place and a symlink swapped under it (a ConfigMap's ..data)
// are seen, and bursts are debounced. A config that does not load is
// logged and the running one kept. reload is what applies it (e.g.
// [Server.Reload]).
func WatchConfig(ctx context.Context, path string, log *slog.Logger, reload func(*Config) error) error {
	w, err := filewatch.New(path, func(context.Context) {
		cfg, err := LoadConfig(path)
		if err == nil {
			err = reload(cfg)
		}
		if err != nil {
			log.Error("config reload failed; keeping the running config", "err", err)
			return
		}
		log.Info("config file changed; reloaded")
	}, filewatch.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("watch the edge config: %w", err)
	}
	if err := w.Run(ctx); err != nil {
		return fmt.Errorf("watch the edge config: %w", err)
	}
	return nil
}
