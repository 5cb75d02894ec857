// Package keychaintest runs a real Secret Service for tests: a private
// D-Bus session bus (dbus-daemon with a configuration that activates
// nothing, so no stray keyring daemon or prompter starts behind the test's
// back) and gnome-keyring-daemon on it, each in temporary HOME and XDG
// folders and killed by PID when the test ends. It also plays the unlock
// prompter of a locked keyring, one that never answers (the user walked
// away), to test the timeout path.
//
// Needs the Debian packages dbus-daemon, dbus-bin and gnome-keyring
// (libsecret-tools for secret-tool). When one is missing the test fails
// under CI=true and is skipped otherwise.
package keychaintest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/godbus/dbus/v5"
)

// Need fails (CI=true) or skips the test when a program is missing.
func Need(tb testing.TB, programs ...string) {
	tb.Helper()
	for _, p := range programs {
		testenv.LookPath(tb, p, "apt-get install dbus-daemon dbus-bin gnome-keyring libsecret-tools")
	}
}

// Bus is a private session bus.
type Bus struct {
	// Addr is its DBUS_SESSION_BUS_ADDRESS.
	Addr string
	// Dir is a temporary folder holding HOME, XDG_DATA_HOME and
	// XDG_RUNTIME_DIR for the programs on this bus.
	Dir string
	PID int
}

const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// StartBus starts dbus-daemon with no service folders (nothing is
// bus-activated) and returns once it accepts connections.
func StartBus(tb testing.TB) *Bus {
	tb.Helper()
	Need(tb, "dbus-daemon")
	// A short folder of its own: D-Bus addresses cannot hold ',' or '='
	// (test names put commas in TempDir), and socket paths are short.
	dir, err := os.MkdirTemp("", "airlock-bus-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"home", "data", "run", "sock"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			tb.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, filepath.Join(dir, "sock")), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	cmd.Env = envWith(nil, dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stderr := &lockedWriter{b: &strings.Builder{}}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start dbus-daemon: %v", err)
	}
	b := &Bus{Dir: dir, PID: cmd.Process.Pid}
	tb.Cleanup(func() { kill(cmd) })
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case b.Addr = <-line:
	case <-time.After(20 * time.Second):
		tb.Fatalf("dbus-daemon printed no address in 20 s: %s", stderr.String())
	}
	if b.Addr == "" {
		tb.Fatalf("dbus-daemon printed no address: %s", stderr.String())
	}
	return b
}

// Env returns the environment of a program on this bus: HOME, XDG folders
// and DBUS_SESSION_BUS_ADDRESS.
func (b *Bus) Env() []string {
	return append(envWith(nil, b.Dir), "DBUS_SESSION_BUS_ADDRESS="+b.Addr)
}

// Setenv points this test's process at the bus (t.Setenv).
func (b *Bus) Setenv(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", b.Addr)
}

func envWith(env []string, dir string) []string {
	if env == nil {
		env = os.Environ()
	}
	return append(env,
		"HOME="+filepath.Join(dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "home", ".config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "home", ".cache"),
	)
}

// Conn returns a private connection to the bus, closed at cleanup.
func (b *Bus) Conn(tb testing.TB) *dbus.Conn {
	tb.Helper()
	c, err := dbus.Dial(b.Addr)
	if err != nil {
		tb.Fatalf("dial the test bus: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	if err := c.Auth(nil); err != nil {
		tb.Fatalf("auth on the test bus: %v", err)
	}
	if err := c.Hello(); err != nil {
		tb.Fatalf("hello on the test bus: %v", err)
	}
	return c
}

// HasOwner reports whether name has an owner on the bus.
func (b *Bus) HasOwner(tb testing.TB, c *dbus.Conn, name string) bool {
	var has bool
	if err := c.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has); err != nil {
		tb.Fatalf("NameHasOwner(%s): %v", name, err)
	}
	return has
}

// Keyring is a running gnome-keyring-daemon.
type Keyring struct {
	PID int
	cmd *exec.Cmd
	log *lockedWriter
}

// Log returns what the daemon printed so far.
func (k *Keyring) Log() string { return k.log.String() }

// KeyringOptions say how to start gnome-keyring-daemon.
type KeyringOptions struct {
	// Password is its login keyring's password.
	Password string
	// Unlock creates the login keyring if missing and unlocks it with
	// Password; false leaves an existing login keyring locked.
	Unlock bool
}

// StartKeyring starts gnome-keyring-daemon --foreground
// --components=secrets on the bus and returns once it owns
// org.freedesktop.secrets. It is killed at cleanup (it would outlive the
// bus otherwise).
func (b *Bus) StartKeyring(tb testing.TB, opts KeyringOptions) *Keyring {
	tb.Helper()
	Need(tb, "gnome-keyring-daemon")
	args := []string{"--foreground", "--components=secrets"}
	if opts.Unlock {
		args = append(args, "--unlock")
	}
	cmd := exec.Command("gnome-keyring-daemon", args...)
	cmd.Env = b.Env()
	cmd.Stdin = strings.NewReader(opts.Password)
	if !opts.Unlock {
		cmd.Stdin = nil
	}
	log := &lockedWriter{b: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start gnome-keyring-daemon: %v", err)
	}
	k := &Keyring{PID: cmd.Process.Pid, cmd: cmd, log: log}
	tb.Cleanup(k.Stop)
	c := b.Conn(tb)
	testenv.Eventually(tb, "gnome-keyring-daemon to own org.freedesktop.secrets", func() bool {
		return b.HasOwner(tb, c, "org.freedesktop.secrets")
	})
	return k
}

// Stop kills the keyring daemon and waits for it. Safe to call twice.
func (k *Keyring) Stop() { kill(k.cmd) }

func kill(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}
