package edge

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchDebounce is how long the config file must be quiet before a reload.
const watchDebounce = 250 * time.Millisecond

// WatchConfig reloads the config at path whenever it changes until ctx
// ends. It watches the folder, not the file, so editors and tools that
// save by renaming a new file into place are seen; bursts of events are
// debounced. A config that does not load is logged and the running one
// kept. reload is what applies it (e.g. [Server.Reload]).
func WatchConfig(ctx context.Context, path string, log *slog.Logger, reload func(*Config) error) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch the edge config: %w", err)
	}
	defer w.Close()
	dir, name := filepath.Dir(path), filepath.Base(path)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch the edge config folder %s: %w", dir, err)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) == name && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				timer.Reset(watchDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("config watch error", "err", err)
		case <-timer.C:
			cfg, err := LoadConfig(path)
			if err == nil {
				err = reload(cfg)
			}
			if err != nil {
				log.Error("config reload failed; keeping the running config", "err", err)
				continue
			}
			log.Info("config file changed; reloaded")
		}
	}
}
