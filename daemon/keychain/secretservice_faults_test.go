package keychain_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/keychain"
	"github.com/airlockhq/airlock/daemon/keychain/keychaintest"
	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/airlockhq/airlock/internal/testenv"
)

// A keychain that is locked or slow is a temporary condition: the store
// keeps the token in memory, never in the file, asks again with backoff
// (the clock injected, fired by the test) or at once when a call that
// timed out returns, and moves the token into the keychain when it
// answers. Against the real gnome-keyring-daemon on a private bus; the
// store runs in a child process (go-keyring's bus connection is
// per-process) that the test drives line by line.

const harnessEnv = "AIRLOCK_KEYCHAIN_HARNESS"

// harnessReply is one answer of the harness.
type harnessReply struct {
	Value string        `json:"value,omitempty"`
	Err   string        `json:"err,omitempty"`
	Info  keychain.Info `json:"info"`
	Wait  time.Duration `json:"wait,omitempty"`
	Log   string        `json:"log,omitempty"`
}

// TestHarness is the child's body: it runs an Auto store with Run and an
// injected clock, and answers commands on stdin (set K V, get K, fire,
// until-attempts N, until-kind K, info), one reply line each.
func TestHarness(t *testing.T) {
	if os.Getenv(harnessEnv) == "" {
		t.Skip("runs only as a child of the Secret Service fault tests")
	}
	logs := &testenv.Buffer{}
	clock := keychaintest.NewClock()
	changes := make(chan keychain.Info, 256)
	kicks := make(chan struct{}, 1)
	a, err := keychain.OpenAuto(keychain.AutoOptions{
		Dir:      os.Getenv("AIRLOCK_TEST_STATE"),
		Keychain: keychain.NewOS("airlock-test", time.Second, nil),
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
		Retry:    backoff.Config{Clock: clock},
		OnChange: func(i keychain.Info) {
			changes <- i
			select {
			case kicks <- struct{}{}:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	until := func(ok func(keychain.Info) bool) error {
		if ok(a.Info()) {
			return nil
		}
		for {
			select {
			case i := <-changes:
				if ok(i) {
					return nil
				}
			case <-ctx.Done():
				return fmt.Errorf("no such change: %+v", a.Info())
			}
		}
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		var r harnessReply
		var err error
		switch f[0] {
		case "set":
			err = a.Set(ctx, f[1], f[2])
		case "get":
			r.Value, err = a.Get(ctx, f[1])
		case "fire":
			r.Wait, err = clock.Fire(ctx)
		case "until-attempts":
			var n int
			fmt.Sscan(f[1], &n)
			err = until(func(i keychain.Info) bool { return i.Attempts >= n || i.Kind != keychain.KindMemory })
		case "fire-unless-stored":
			var fired bool
			r.Wait, fired, err = clock.FireUnless(ctx, kicks, func() bool { return a.Info().Kind != keychain.KindMemory })
			if !fired && err == nil {
				r.Value = "stored"
			}
		case "until-kind":
			err = until(func(i keychain.Info) bool { return string(i.Kind) == f[1] })
		case "info":
		default:
			err = fmt.Errorf("unknown command %q", f[0])
		}
		if err != nil {
			r.Err = err.Error()
		}
		r.Info, r.Log = a.Info(), logs.String()
		out, _ := json.Marshal(r)
		fmt.Printf("REPLY %s\n", out)
	}
}

// harness is a running TestHarness child.
type harness struct {
	t     *testing.T
	in    io.WriteCloser
	out   *bufio.Scanner
	state string
}

func startHarness(t *testing.T, bus *keychaintest.Bus) *harness {
	t.Helper()
	h := &harness{t: t, state: t.TempDir()}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHarness$", "-test.count=1")
	cmd.Env = append(baseEnv(t, t.TempDir()), "DBUS_SESSION_BUS_ADDRESS="+bus.Addr, harnessEnv+"=1", "AIRLOCK_TEST_STATE="+h.state)
	var err error
	if h.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.out = bufio.NewScanner(out)
	t.Cleanup(func() { h.in.Close(); cmd.Wait() })
	return h
}

// do sends one command and returns its reply; a reply error fails the
// test unless allowed.
func (h *harness) do(cmd string) harnessReply {
	h.t.Helper()
	if _, err := fmt.Fprintln(h.in, cmd); err != nil {
		h.t.Fatalf("send %q: %v", cmd, err)
	}
	for h.out.Scan() {
		if rest, ok := strings.CutPrefix(h.out.Text(), "REPLY "); ok {
			var r harnessReply
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				h.t.Fatal(err)
			}
			if r.Err != "" {
				h.t.Fatalf("%s: %s\nlog:\n%s", cmd, r.Err, r.Log)
			}
			return r
		}
	}
	h.t.Fatalf("%s: the harness ended: %v", cmd, h.out.Err())
	return harnessReply{}
}

// noPlaintext fails when the state folder has a token file or the log
// holds a secret.
func (h *harness) noPlaintext(r harnessReply, secrets ...string) {
	h.t.Helper()
	if _, err := os.Stat(filepath.Join(h.state, keychain.TokenFileName)); !os.IsNotExist(err) {
		h.t.Errorf("a token file exists: %v", err)
	}
	for _, s := range secrets {
		if strings.Contains(r.Log, s) {
			h.t.Errorf("a secret appears in the log:\n%s", r.Log)
		}
	}
}

func TestSecretServiceLockedAndSlow(t *testing.T) {
	keychaintest.Need(t, "dbus-daemon", "gnome-keyring-daemon", "secret-tool")
	const before, during = "rt-before-4b1f", "rt-during-9c2e"
	lookup := func(t *testing.T, bus *keychaintest.Bus) string {
		got, _ := secretTool(t, bus, "lookup", "service", "airlock-test", "username", "edge:main")
		return got
	}

	t.Run("locked through the Secret Service API, then unlocked", func(t *testing.T) {
		bus := keychaintest.StartBus(t)
		bus.StartKeyring(t, keychaintest.KeyringOptions{Password: "pw", Unlock: true})
		h := startHarness(t, bus)
		if r := h.do("set edge:main " + before); r.Info.Kind != keychain.KindKeychain {
			t.Fatalf("unlocked keyring: %+v", r.Info)
		}
		bus.Lock(t)
		r := h.do("set edge:main " + during)
		if r.Info.Kind != keychain.KindMemory || r.Info.Cause != keychain.CauseLocked || r.Info.Pending != 1 {
			t.Fatalf("after a Set on the locked keyring: %+v\n%s", r.Info, r.Log)
		}
		if !strings.Contains(r.Info.Reason, "the keyring is locked: unlock it; the sign-in is kept in memory until then") {
			t.Errorf("reason %q", r.Info.Reason)
		}
		if r := h.do("get edge:main"); r.Value != during {
			t.Fatalf("Get while locked = %q, want the value kept in memory", r.Value)
		}
		h.noPlaintext(r, before, during)
		// Entering the memory state asks the keychain again at once. This
		// gnome-keyring at times unlocks the login collection on
		// go-keyring's own Unlock call (its prompt completes, while
		// go-keyring reports "failed to unlock correct collection"): then
		// that first attempt already stores the token, and the backoff
		// path is not reached (TestAutoWaitsForALockedKeychain covers it).
		first := h.do("fire-unless-stored")
		if first.Value == "stored" {
			if got := lookup(t, bus); got != during {
				t.Fatalf("the keyring unlocked itself but holds %q, want the token kept in memory", got)
			}
			h.noPlaintext(first, before, during)
			t.Logf("the keyring was unlocked by go-keyring's Unlock prompt; the token moved in on the first attempt")
			return
		}
		// Asked again with backoff while still locked: 1 s, 2 s.
		for i, want := range []time.Duration{time.Second, 2 * time.Second} {
			r := first
			if i > 0 {
				r = h.do("fire")
			}
			if r.Wait != want {
				t.Fatalf("wait %d = %v, want %v", i, r.Wait, want)
			}
			r = h.do(fmt.Sprintf("until-attempts %d", i+1))
			if r.Info.Kind != keychain.KindMemory || r.Info.Cause != keychain.CauseLocked {
				t.Fatalf("attempt %d on the locked keyring: %+v", i+1, r.Info)
			}
		}
		// The person unlocks it; the next attempt stores the token.
		bus.Unlock(t, "pw")
		h.do("fire-unless-stored") // the unlock may wake the store before the timer does
		r = h.do("until-kind keychain")
		if r.Info.Pending != 0 {
			t.Fatalf("after the unlock: %+v", r.Info)
		}
		if got := lookup(t, bus); got != during {
			t.Fatalf("the keyring holds %q, want the token kept in memory", got)
		}
		h.noPlaintext(r, before, during)
	})

	t.Run("slow: gnome-keyring-daemon stopped, then continued", func(t *testing.T) {
		bus := keychaintest.StartBus(t)
		k := bus.StartKeyring(t, keychaintest.KeyringOptions{Password: "pw", Unlock: true})
		h := startHarness(t, bus)
		if r := h.do("set edge:main " + before); r.Info.Kind != keychain.KindKeychain {
			t.Fatalf("unlocked keyring: %+v", r.Info)
		}
		k.Pause(t)
		r := h.do("set edge:main " + during) // returns after the 1 s call timeout
		if r.Info.Kind != keychain.KindMemory || r.Info.Cause != keychain.CauseTimeout || r.Info.Pending != 1 {
			t.Fatalf("after a Set on the stopped keyring: %+v\n%s", r.Info, r.Log)
		}
		if r := h.do("get edge:main"); r.Value != during {
			t.Fatalf("Get while stopped = %q", r.Value)
		}
		// Asked again while still stopped: the call in flight holds its
		// place, so the attempt times out without a second call.
		if r := h.do("fire"); r.Wait != time.Second {
			t.Fatalf("first wait %v", r.Wait)
		}
		if r := h.do("until-attempts 1"); r.Info.Kind != keychain.KindMemory {
			t.Fatalf("attempt while stopped: %+v", r.Info)
		}
		h.noPlaintext(r, before, during)
		// Continued: the call in flight answers late, and that alone
		// ends the wait (no backoff fired).
		k.Resume(t)
		r = h.do("until-kind keychain")
		if r.Info.Pending != 0 {
			t.Fatalf("after SIGCONT: %+v", r.Info)
		}
		if got := lookup(t, bus); got != during {
			t.Fatalf("the keyring holds %q, want the token kept in memory", got)
		}
		h.noPlaintext(r, before, during)
	})
}
