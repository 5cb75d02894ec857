package keychain_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/keychain"
	"github.com/airlockhq/airlock/daemon/keychain/keychaintest"
)

// These tests run go-keyring against a real Secret Service
// (gnome-keyring-daemon on a private dbus-daemon) and each way it can be
// missing. go-keyring uses the process's shared session-bus connection,
// so every case runs the store in a fresh child process (this test binary
// re-run with childEnv set) with the case's environment.

const childEnv = "AIRLOCK_KEYCHAIN_CHILD"

// childReport is what a child prints.
type childReport struct {
	Kind       keychain.Kind  `json:"kind"`
	Cause      keychain.Cause `json:"cause"`
	Reason     string         `json:"reason"`
	Remembered bool           `json:"remembered"`
	Got        string         `json:"got"`
	GotErr     string         `json:"got_err"`
	AfterDel   string         `json:"after_delete_err"`
	Log        string         `json:"log"`
	Elapsed    time.Duration  `json:"elapsed"`
}

// TestChild is the child's body; it does nothing in a normal run.
func TestChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("runs only as a child of the Secret Service tests")
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := keychain.OpenAuto(keychain.AutoOptions{
		Dir:      os.Getenv("AIRLOCK_TEST_STATE"),
		Keychain: keychain.NewOS("airlock-test", time.Second, nil),
		Logger:   log,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var r childReport
	key, value := os.Getenv("AIRLOCK_TEST_KEY"), os.Getenv("AIRLOCK_TEST_VALUE")
	if err := a.Set(ctx, key, value); err != nil {
		t.Fatalf("Set: %v", err)
	}
	r.Got, err = a.Get(ctx, key)
	if err != nil {
		r.GotErr = err.Error()
	}
	if os.Getenv("AIRLOCK_TEST_KEEP") == "" {
		if err := a.Delete(ctx, key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := a.Get(ctx, key); !errors.Is(err, keychain.ErrNotFound) {
			r.AfterDel = fmt.Sprint(err)
		}
	}
	r.Elapsed = time.Since(start)
	info := a.Info()
	r.Kind, r.Cause, r.Reason, r.Remembered, r.Log = info.Kind, info.Cause, info.Reason, info.Remembered, logs.String()
	out, _ := json.Marshal(r)
	fmt.Printf("REPORT %s\n", out)
}

// runChild runs TestChild with env added to a clean environment.
func runChild(t *testing.T, env []string, state, key, value string, keep bool) childReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChild$", "-test.v", "-test.count=1")
	cmd.Env = append(env, childEnv+"=1", "AIRLOCK_TEST_STATE="+state, "AIRLOCK_TEST_KEY="+key, "AIRLOCK_TEST_VALUE="+value)
	if keep {
		cmd.Env = append(cmd.Env, "AIRLOCK_TEST_KEEP=1")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "REPORT "); ok {
			var r childReport
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("child printed no report:\n%s", out)
	return childReport{}
}

// baseEnv is the environment without any session bus: no address, no
// dbus-launch on PATH.
func baseEnv(t *testing.T, dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "DBUS_SESSION_BUS_ADDRESS", "HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_STATE_HOME", "PATH", "DISPLAY", "WAYLAND_DISPLAY":
			continue
		}
		env = append(env, kv)
	}
	bin := filepath.Join(dir, "bin") // an empty PATH: no dbus-launch to autolaunch a bus
	os.MkdirAll(bin, 0o700)
	return append(env, "HOME="+filepath.Join(dir, "home"), "XDG_RUNTIME_DIR="+filepath.Join(dir, "run"), "PATH="+bin)
}

func secretTool(t *testing.T, bus *keychaintest.Bus, args ...string) (string, error) {
	t.Helper()
	keychaintest.Need(t, "secret-tool")
	cmd := exec.Command("secret-tool", args...)
	cmd.Env = bus.Env()
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func TestSecretService(t *testing.T) {
	keychaintest.Need(t, "dbus-daemon", "gnome-keyring-daemon", "secret-tool")
	const secret = "rt-6f1e2d3c-secret"

	t.Run("keychain", func(t *testing.T) {
		bus := keychaintest.StartBus(t)
		bus.StartKeyring(t, keychaintest.KeyringOptions{Password: "pw", Unlock: true})
		state := t.TempDir()
		env := append(baseEnv(t, t.TempDir()), "DBUS_SESSION_BUS_ADDRESS="+bus.Addr)

		r := runChild(t, env, state, "edge:main", secret, true)
		if r.Kind != keychain.KindKeychain || r.Got != secret || r.GotErr != "" {
			t.Fatalf("report %+v, want the keychain to hold the value", r)
		}
		// It is really in gnome-keyring, under service airlock-test.
		if got, err := secretTool(t, bus, "lookup", "service", "airlock-test", "username", "edge:main"); err != nil || got != secret {
			t.Fatalf("secret-tool lookup = %q, %v", got, err)
		}
		if _, err := os.Stat(filepath.Join(state, keychain.TokenFileName)); !os.IsNotExist(err) {
			t.Errorf("the fallback file exists although the keychain works: %v", err)
		}
		// Delete removes it from the keyring.
		r = runChild(t, env, state, "edge:main", secret, false)
		if r.Kind != keychain.KindKeychain || !r.Remembered || r.AfterDel != "" {
			t.Fatalf("second run %+v", r)
		}
		if got, err := secretTool(t, bus, "lookup", "service", "airlock-test", "username", "edge:main"); err == nil || got != "" {
			t.Fatalf("secret-tool still finds the value after Delete: %q", got)
		}
		if strings.Contains(r.Log, secret) {
			t.Errorf("the value appears in the log:\n%s", r.Log)
		}
	})

	fallbacks := []struct {
		name  string
		setup func(t *testing.T) []string // extra environment
		cause keychain.Cause
	}{
		{"no session bus", func(t *testing.T) []string { return nil }, keychain.CauseNoBus},
		{"bus without Secret Service", func(t *testing.T) []string {
			bus := keychaintest.StartBus(t)
			return []string{"DBUS_SESSION_BUS_ADDRESS=" + bus.Addr}
		}, keychain.CauseNoService},
	}
	for _, tt := range fallbacks {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			env := append(baseEnv(t, t.TempDir()), tt.setup(t)...)
			r := runChild(t, env, state, "edge:main", secret, true)
			if r.Kind != keychain.KindFile || r.Cause != tt.cause {
				t.Fatalf("store %s cause %q, want the file because of %s; log:\n%s", r.Kind, r.Cause, tt.cause, r.Log)
			}
			if r.Got != secret {
				t.Fatalf("Get from the file = %q (%s)", r.Got, r.GotErr)
			}
			if n := strings.Count(r.Log, "OS keychain absent"); n != 1 {
				t.Errorf("%d fallback warnings, want 1:\n%s", n, r.Log)
			}
			if !strings.Contains(r.Log, "cause="+string(tt.cause)) {
				t.Errorf("the warning does not name the cause:\n%s", r.Log)
			}
			if strings.Contains(r.Log, secret) {
				t.Errorf("the value appears in the log:\n%s", r.Log)
			}
			st, err := os.Stat(filepath.Join(state, keychain.TokenFileName))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("token file: %v %v", err, st)
			}
			// The choice persists: the next start goes straight to the
			// file, without a warning, and finds the value.
			r2 := runChild(t, env, state, "edge:other", "x", true)
			if r2.Kind != keychain.KindFile || !r2.Remembered || r2.Cause != tt.cause {
				t.Fatalf("second start: %+v", r2)
			}
			if strings.Contains(r2.Log, "OS keychain absent") {
				t.Errorf("second start warned again:\n%s", r2.Log)
			}
		})
	}
	// A locked keyring is a temporary condition: the value waits in
	// memory, never in the file, and nothing is remembered.
	waits := []struct {
		name  string
		setup func(t *testing.T) []string
		cause keychain.Cause
	}{
		{"locked keyring, no prompter", func(t *testing.T) []string {
			bus := lockedKeyring(t)
			return []string{"DBUS_SESSION_BUS_ADDRESS=" + bus.Addr}
		}, keychain.CauseLocked},
		{"locked keyring, prompt never answered", func(t *testing.T) []string {
			bus := lockedKeyring(t)
			bus.SilentPrompter(t)
			return []string{"DBUS_SESSION_BUS_ADDRESS=" + bus.Addr}
		}, keychain.CauseTimeout},
	}
	for _, tt := range waits {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			env := append(baseEnv(t, t.TempDir()), tt.setup(t)...)
			for start := range 2 {
				r := runChild(t, env, state, "edge:main", secret, true)
				if r.Kind != keychain.KindMemory || r.Cause != tt.cause || r.Remembered {
					t.Fatalf("start %d: store %s cause %q remembered %v, want memory because of %s; log:\n%s", start, r.Kind, r.Cause, r.Remembered, tt.cause, r.Log)
				}
				if r.Got != secret {
					t.Fatalf("Get from memory = %q (%s)", r.Got, r.GotErr)
				}
				if n := strings.Count(r.Log, "keeping sign-in tokens in memory"); n != 1 {
					t.Errorf("%d warnings, want 1:\n%s", n, r.Log)
				}
				if strings.Contains(r.Log, secret) {
					t.Errorf("the value appears in the log:\n%s", r.Log)
				}
				if _, err := os.Stat(filepath.Join(state, keychain.TokenFileName)); !os.IsNotExist(err) {
					t.Fatalf("a locked keyring made a token file: %v", err)
				}
			}
		})
	}
}

// lockedKeyring starts a bus with gnome-keyring holding a locked login
// keyring: created unlocked with a password, then the daemon restarted
// without --unlock.
func lockedKeyring(t *testing.T) *keychaintest.Bus {
	bus := keychaintest.StartBus(t)
	k := bus.StartKeyring(t, keychaintest.KeyringOptions{Password: "pw", Unlock: true})
	if _, err := secretTool(t, bus, "lookup", "service", "none", "username", "none"); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
	}
	k.Stop()
	bus.StartKeyring(t, keychaintest.KeyringOptions{})
	return bus
}
