package keychain

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuto(t *testing.T) {
	tests := []struct {
		name      string
		breakIt   func(*fakeKeyring)
		wantKind  Kind
		wantCause Cause
	}{
		{"keychain works", func(*fakeKeyring) {}, KindKeychain, ""},
		{"no bus", func(k *fakeKeyring) {
			k.err = errors.New(`exec: "dbus-launch": executable file not found in $PATH`)
		}, KindFile, CauseNoBus},
		{"no secret service", func(k *fakeKeyring) {
			k.err = errors.New("org.freedesktop.DBus.Error.ServiceUnknown: The name org.freedesktop.secrets was not provided by any .service files")
		}, KindFile, CauseNoService},
		{"locked", func(k *fakeKeyring) {
			k.err = errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'")
		}, KindMemory, CauseLocked},
		{"no answer", func(k *fakeKeyring) { k.block = make(chan struct{}) }, KindMemory, CauseTimeout},
		{"other failure", func(k *fakeKeyring) { k.err = errors.New("org.freedesktop.DBus.Error.NoReply") }, KindMemory, CauseOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctxT(t)
			dir := t.TempDir()
			kr := newFakeKeyring()
			tt.breakIt(kr)
			if kr.block != nil {
				t.Cleanup(func() { close(kr.block) })
			}
			log, logs := newLogger()
			a, err := OpenAuto(AutoOptions{Dir: dir, Keychain: NewOS("", 100*time.Millisecond, kr), Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Set(ctx, "edge:main", "refresh-secret-1"); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if err := a.Set(ctx, "edge:other", "refresh-secret-2"); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if v, err := a.Get(ctx, "edge:main"); err != nil || v != "refresh-secret-1" {
				t.Fatalf("Get = %q, %v", v, err)
			}
			info := a.Info()
			if info.Kind != tt.wantKind || info.Cause != tt.wantCause {
				t.Fatalf("store %s (cause %q), want %s (cause %q)", info.Kind, info.Cause, tt.wantKind, tt.wantCause)
			}
			warns := strings.Count(logs.String(), "OS keychain absent")
			waits := strings.Count(logs.String(), "keeping sign-in tokens in memory")
			switch tt.wantKind {
			case KindMemory:
				if waits != 1 || warns != 0 {
					t.Errorf("%d warnings about memory (want 1), %d about the file (want 0):\n%s", waits, warns, logs)
				}
				if _, err := os.Stat(filepath.Join(dir, TokenFileName)); !os.IsNotExist(err) {
					t.Errorf("a locked or slow keychain made a token file: %v", err)
				}
				if info.Pending != 2 || info.Fix == "" || info.Reason == "" {
					t.Errorf("info %+v: want 2 pending, a reason and a fix", info)
				}
				if _, err := a.Get(ctx, "edge:never-set"); !errors.Is(err, ErrWaiting) {
					t.Errorf("Get of a key memory lacks = %v, want ErrWaiting", err)
				}
			case KindFile:
				if warns != 1 {
					t.Errorf("%d warnings about the fallback, want exactly 1:\n%s", warns, logs)
				}
				if !strings.Contains(logs.String(), string(tt.wantCause)) {
					t.Errorf("the warning does not name the cause %s:\n%s", tt.wantCause, logs)
				}
				if st, err := os.Stat(filepath.Join(dir, TokenFileName)); err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("token file: %v, mode %v", err, st.Mode())
				}
			default:
				if warns != 0 || waits != 0 {
					t.Errorf("warned about a fallback that did not happen:\n%s", logs)
				}
			}
			if strings.Contains(logs.String(), "refresh-secret") {
				t.Errorf("a stored value appears in the log:\n%s", logs)
			}

			// A later start uses the same store without asking the
			// keychain first, even once it would work again.
			kr2 := newFakeKeyring()
			b, err := OpenAuto(AutoOptions{Dir: dir, Keychain: NewOS("", 100*time.Millisecond, kr2)})
			if err != nil {
				t.Fatal(err)
			}
			wantAfter := tt.wantKind
			if wantAfter == KindMemory {
				wantAfter = KindKeychain // a lock is not remembered
			}
			if got := b.Info(); got.Kind != wantAfter || (wantAfter == KindFile) != (got.Cause != "") {
				t.Fatalf("after restart: %+v, want %s", got, wantAfter)
			}
			if tt.wantKind == KindFile {
				if v, err := b.Get(ctx, "edge:other"); err != nil || v != "refresh-secret-2" {
					t.Fatalf("after restart Get = %q, %v", v, err)
				}
				if kr2.calls != 0 {
					t.Errorf("the keychain was asked %d times after the file was chosen", kr2.calls)
				}
			}

			// Logout deletes from every store.
			kr2.items["airlock/edge:main"] = "stale"
			if err := b.DeleteEverywhere(ctx, "edge:main"); err != nil {
				t.Fatal(err)
			}
			if _, err := NewFile(filepath.Join(dir, TokenFileName)).Get(ctx, "edge:main"); !errors.Is(err, ErrNotFound) {
				t.Errorf("file still holds the token: %v", err)
			}
			if _, ok := kr2.items["airlock/edge:main"]; ok {
				t.Error("keychain still holds the token")
			}
		})
	}
}

func TestAutoProbe(t *testing.T) {
	ctx := ctxT(t)
	kr := newFakeKeyring()
	kr.err = errors.New("org.freedesktop.DBus.Error.ServiceUnknown")
	a, err := OpenAuto(AutoOptions{Dir: t.TempDir(), Keychain: NewOS("", time.Second, kr)})
	if err != nil {
		t.Fatal(err)
	}
	if info := a.Info(); info.Kind != KindKeychain || info.Probed {
		t.Fatalf("before the probe: %+v", info)
	}
	if info := a.Probe(ctx); info.Kind != KindFile || info.Cause != CauseNoService || !info.Probed || info.Fix == "" {
		t.Fatalf("after the probe: %+v", info)
	}
}

func TestAutoBadChoiceFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ChoiceFileName), []byte(`{"store":"floppy"}`), 0o600)
	log, logs := newLogger()
	a, err := OpenAuto(AutoOptions{Dir: dir, Keychain: NewOS("", time.Second, newFakeKeyring()), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if a.Info().Kind != KindKeychain || !strings.Contains(logs.String(), "floppy") {
		t.Fatalf("bad choice file: %+v, log %s", a.Info(), logs)
	}
}

func TestDefaultDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if d, _ := DefaultDir(env(map[string]string{"XDG_STATE_HOME": "/s", "HOME": "/h"})); d != "/s/airlock" {
		t.Errorf("with XDG_STATE_HOME: %s", d)
	}
	if d, _ := DefaultDir(env(map[string]string{"XDG_STATE_HOME": "rel", "HOME": "/h"})); d != "/h/.local/state/airlock" {
		t.Errorf("relative XDG_STATE_HOME: %s", d)
	}
	if _, err := DefaultDir(env(nil)); err == nil {
		t.Error("no HOME: no error")
	}
}
