package keychain

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/keychain/keychaintest"
	"github.com/airlockhq/airlock/internal/backoff"
)

const lockedErr = "failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"

// waitingAuto is an Auto over kr whose Run runs with an injected clock;
// its Info changes arrive on changes.
type waitingAuto struct {
	*Auto
	clock   *keychaintest.Clock
	changes chan Info
	dir     string
}

func newWaitingAuto(t *testing.T, kr *fakeKeyring, timeout time.Duration) *waitingAuto {
	t.Helper()
	w := &waitingAuto{clock: keychaintest.NewClock(), changes: make(chan Info, 64), dir: t.TempDir()}
	a, err := OpenAuto(AutoOptions{
		Dir: w.dir, Keychain: NewOS("", timeout, kr),
		Retry:    backoff.Config{Clock: w.clock},
		OnChange: func(i Info) { w.changes <- i },
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Auto = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// until waits for an Info change that satisfies ok.
func (w *waitingAuto) until(t *testing.T, what string, ok func(Info) bool) Info {
	t.Helper()
	ctx := ctxT(t)
	for {
		select {
		case i := <-w.changes:
			if ok(i) {
				return i
			}
		case <-ctx.Done():
			t.Fatalf("no change to %s: now %+v", what, w.Info())
		}
	}
}

// fire ends Run's next wait and returns its length.
func (w *waitingAuto) fire(t *testing.T) time.Duration {
	t.Helper()
	d, err := w.clock.Fire(ctxT(t))
	if err != nil {
		t.Fatalf("Run asked for no wait: %v (%+v)", err, w.Info())
	}
	return d
}

func (k *fakeKeyring) setErr(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.err = err
}

func (k *fakeKeyring) item(key string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.items[Service+"/"+key]
	return v, ok
}

func TestAutoWaitsForALockedKeychain(t *testing.T) {
	tests := []struct {
		name string
		// before runs with the keychain locked, after the Set.
		before func(t *testing.T, w *waitingAuto, kr *fakeKeyring)
		// reopen is what the keychain says when asked again.
		reopen     error
		wantKind   Kind
		wantItem   bool // the keychain holds edge:main afterwards
		wantInFile bool
	}{
		{"unlocked", nil, nil, KindKeychain, true, false},
		{"deleted while locked", func(t *testing.T, w *waitingAuto, kr *fakeKeyring) {
			if err := w.Delete(ctxT(t), "edge:main"); err != nil {
				t.Fatal(err)
			}
		}, nil, KindKeychain, false, false},
		{"logged out while locked", func(t *testing.T, w *waitingAuto, kr *fakeKeyring) {
			if err := w.DeleteEverywhere(ctxT(t), "edge:main"); err != nil {
				t.Fatal(err)
			}
		}, nil, KindKeychain, false, false},
		{"absent meanwhile", nil, errors.New("org.freedesktop.DBus.Error.ServiceUnknown"), KindFile, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxT(t)
			kr := newFakeKeyring()
			kr.items[Service+"/edge:main"] = "old"
			kr.setErr(errors.New(lockedErr))
			w := newWaitingAuto(t, kr, time.Minute)
			if err := w.Set(ctx, "edge:main", "refresh-new"); err != nil {
				t.Fatal(err)
			}
			if i := w.Info(); i.Kind != KindMemory || i.Cause != CauseLocked || i.Pending != 1 {
				t.Fatalf("after Set on a locked keychain: %+v", i)
			}
			if v, err := w.Get(ctx, "edge:main"); err != nil || v != "refresh-new" {
				t.Fatalf("Get from memory = %q, %v", v, err)
			}
			if tt.before != nil {
				tt.before(t, w, kr)
			}
			// Still locked: asked again after 1 s, then 2 s.
			for i, want := range []time.Duration{time.Second, 2 * time.Second} {
				if d := w.fire(t); d != want {
					t.Fatalf("wait %d = %v, want %v", i, d, want)
				}
				w.until(t, "another attempt", func(in Info) bool { return in.Attempts == i+1 && in.Kind == KindMemory })
			}
			kr.setErr(tt.reopen)
			if d := w.fire(t); d != 4*time.Second {
				t.Fatalf("third wait = %v, want 4s", d)
			}
			got := w.until(t, "the keychain or the file", func(in Info) bool { return in.Kind != KindMemory })
			if got.Kind != tt.wantKind || got.Pending != 0 {
				t.Fatalf("after reopening: %+v, want %s with nothing pending", got, tt.wantKind)
			}
			if v, ok := kr.item("edge:main"); (ok && v == "refresh-new") != tt.wantItem || (ok && v == "old" && tt.wantKind == KindKeychain) {
				t.Errorf("keychain holds %q (%v), want the new value: %v", v, ok, tt.wantItem)
			}
			v, err := NewFile(filepath.Join(w.dir, TokenFileName)).Get(ctx, "edge:main")
			if (err == nil) != tt.wantInFile || (err == nil && v != "refresh-new") {
				t.Errorf("file holds %q (%v), want it: %v", v, err, tt.wantInFile)
			}
		})
	}
}

// A call that times out and returns later (a person typed the unlock
// password into the prompt) ends the wait at once: no backoff fires.
func TestAutoLateAnswer(t *testing.T) {
	ctx := ctxT(t)
	kr := newFakeKeyring()
	kr.block = make(chan struct{})
	w := newWaitingAuto(t, kr, 50*time.Millisecond)
	if err := w.Set(ctx, "edge:main", "refresh-1"); err != nil {
		t.Fatal(err)
	}
	if i := w.Info(); i.Kind != KindMemory || i.Cause != CauseTimeout {
		t.Fatalf("after a Set that timed out: %+v", i)
	}
	if _, err := os.Stat(filepath.Join(w.dir, TokenFileName)); !os.IsNotExist(err) {
		t.Fatalf("a slow keychain made a token file: %v", err)
	}
	kr.mu.Lock()
	block := kr.block
	kr.block = nil // later calls answer at once
	kr.mu.Unlock()
	close(block) // the call that timed out returns now
	got := w.until(t, "the keychain", func(in Info) bool { return in.Kind == KindKeychain })
	if got.Pending != 0 {
		t.Errorf("%d pending after the late answer", got.Pending)
	}
	if n := w.clock.Waiting(); n != 1 {
		t.Errorf("%d backoff waits unfired, want 1 (the late answer ended it)", n)
	}
	if v, _ := kr.item("edge:main"); v != "refresh-1" {
		t.Errorf("keychain holds %q", v)
	}
}

// A file an earlier version filled because the keychain was locked is
// read while the keychain lacks a key, emptied as keys are set, then
// removed.
func TestAutoLegacyFile(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	f := NewFile(filepath.Join(dir, TokenFileName))
	if err := f.Set(ctx, "edge:main", "from-file"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ChoiceFileName), []byte(`{"store":"file","cause":"locked","reason":"x","since":"2024-01-01T00:00:00Z"}`), 0o600)
	kr := newFakeKeyring()
	a, err := OpenAuto(AutoOptions{Dir: dir, Keychain: NewOS("", time.Second, kr)})
	if err != nil {
		t.Fatal(err)
	}
	if i := a.Info(); i.Kind != KindKeychain {
		t.Fatalf("a file chosen because of a lock is remembered: %+v", i)
	}
	if v, err := a.Get(ctx, "edge:main"); err != nil || v != "from-file" {
		t.Fatalf("Get = %q, %v, want the file's value", v, err)
	}
	if err := a.Set(ctx, "edge:main", "rotated"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Path()); !os.IsNotExist(err) {
		t.Fatalf("the emptied file is still there: %v", err)
	}
	if v, _ := kr.item("edge:main"); v != "rotated" {
		t.Fatalf("keychain holds %q", v)
	}
	c, err := readChoice(filepath.Join(dir, ChoiceFileName))
	if err != nil || c.Store != KindKeychain {
		t.Fatalf("choice %+v, %v", c, err)
	}
}
