package edge

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge/oauth"
	"github.com/airlockhq/airlock/internal/atomicfile"
)

func TestWatchConfig(t *testing.T) {
	path := initState(t)
	ctx, cancel := context.WithCancel(context.Background())
	reloads := make(chan *Config, 8)
	done := make(chan error, 1)
	go func() {
		done <- WatchConfig(ctx, path, testLogger(t), func(c *Config) error { reloads <- c; return nil })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	hash, err := oauth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	// The watcher may start after the first write: write until it sees one.
	var got *Config
	for i := 0; got == nil; i++ {
		if i == 10 {
			t.Fatal("no reload within 10s of the config changing")
		}
		if _, err := SetUser(path, oauth.User{Email: "alice@example.com", PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
		select {
		case got = <-reloads:
		case <-time.After(time.Second):
		}
	}
	if len(got.Users) != 1 || got.Users[0].Email != "alice@example.com" {
		t.Fatalf("reloaded users %+v", got.Users)
	}
	// A broken file is not applied; the fixed one is.
	raw, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(append([]byte{}, raw...), "nonsense: [\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-reloads:
		t.Fatalf("a broken config was applied: %+v", c)
	case <-time.After(time.Second):
	}
	if err := atomicfile.Write(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reloads:
	case <-time.After(10 * time.Second):
		t.Fatal("the fixed config (renamed into place) was not reloaded")
	}
}
