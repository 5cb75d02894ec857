package testenv_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

func TestLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "build.lock")
	unlock, err := testenv.LockFile(context.Background(), path, func() { t.Error("first lock waited") })
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	got := make(chan error, 1)
	go func() {
		u, err := testenv.LockFile(context.Background(), path, func() { close(waited) })
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case <-waited:
	case err := <-got:
		t.Fatalf("second lock did not wait: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("second lock neither waited nor returned")
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second lock not taken after unlock")
	}

	t.Run("ctx ends the wait", func(t *testing.T) {
		unlock, err := testenv.LockFile(context.Background(), path, func() {})
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		ctx, cancel := context.WithCancel(context.Background())
		_, err = testenv.LockFile(ctx, path, cancel)
		if err == nil {
			t.Fatal("lock taken while held")
		}
	})
}
