package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
)

// TestReloaderFollowsJoinedFolder: a daemon that started before its
// configuration folder existed follows the file once join creates it, and
// again after leave removed the folder and a second join made a new one.
func TestReloaderFollowsJoinedFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "airlock", "config.yaml")
	applied := make(chan *config.Config, 16)
	r := newReloader(path, time.Millisecond, slog.New(slog.DiscardHandler), func(_ context.Context, c *config.Config) error {
		applied <- c
		return nil
	}, func(*apitype.ConfigError) {})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	write := func(name string) {
		t.Helper()
		if err := config.AddEdge(path, config.Edge{Name: name, Addresses: []string{"127.0.0.1:7844"}, Catalogue: true}); err != nil {
			t.Fatal(err)
		}
		r.folderCreated()
	}
	wait := func(want string) {
		t.Helper()
		for c := range applied {
			if want == "" && c.IsNotJoined() || want != "" && c.Edge(want) != nil {
				return
			}
		}
	}
	for _, edge := range []string{"first", "second"} {
		write(edge)
		wait(edge)
		if err := config.RemoveEdge(path, edge); err != nil {
			t.Fatal(err)
		}
		wait("") // the file is gone: not joined
		if err := os.Remove(filepath.Dir(path)); err != nil {
			t.Fatal(err)
		}
	}
}
