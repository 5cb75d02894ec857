package socks

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/socks/sockstest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// holdEnv makes the test binary a local process of another user that
// opens connections to a listener and holds them, silent, until its
// stdin closes (see TestMain).
const holdEnv = "AIRLOCK_SOCKS_TEST_HOLD"

func TestMain(m *testing.M) {
	if v := os.Getenv(holdEnv); v != "" {
		os.Exit(holdConnections(v))
	}
	os.Exit(m.Run())
}

// holdConnections is the child: "ADDR N" dials N connections to ADDR,
// says so, and keeps them until stdin closes.
func holdConnections(v string) int {
	var addr string
	var n int
	if _, err := fmt.Sscanf(v, "%s %d", &addr, &n); err != nil {
		fmt.Println("bad", holdEnv, err)
		return 2
	}
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("dial:", err)
			return 1
		}
		conns = append(conns, c)
	}
	fmt.Println("dialled", len(conns))
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // until the test closes it
	return 0
}

// TestOtherUserFloodLeavesOwnerIn is issue 10's finding against the cap
// on unauthenticated SOCKS connections: another local user (a real
// process running as nobody) fills it, and the daemon's own user still
// gets in, because the kernel tells whose each client socket is. The
// owner's own connections are capped too.
func TestOtherUserFloodLeavesOwnerIn(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the peer uid of a TCP connection is looked up on Linux only")
	}
	if os.Getuid() != 0 {
		testenv.Missing(t, "root (this test runs a SOCKS client as nobody)")
	}
	const max = 4
	clock := &fakeClock{}
	h := startCapped(t, max, time.Hour, clock, true)
	ctx := ctxT(t)

	// The flood: nobody holds max+2 silent connections.
	child := asNobody(t, fmt.Sprintf("%s=%s %d", holdEnv, h.addr, max+2))
	testenv.Eventually(t, "nobody's connections fill the shared cap", func() bool {
		return clock.armed() == max && h.logs.count("SOCKS connections refused") == 1
	})
	if got := h.logs.attr("client_uid"); got != "65534" {
		t.Errorf("the refusal names client_uid %q, want 65534", got)
	}

	t.Run("the owner still connects", func(t *testing.T) {
		c, err := sockstest.Dial(ctx, h.addr, h.user, h.pass, "kubernetes.default.svc:443")
		if err != nil {
			t.Fatalf("CONNECT as the owner during the flood: %v", err)
		}
		defer c.Close()
		roundTrip(t, c, "owner")
	})
	t.Run("the owner's connections have their own cap", func(t *testing.T) {
		for range max {
			silent(t, h.addr)
		}
		testenv.Eventually(t, "the owner's silent connections admitted", func() bool { return clock.armed() == 2*max })
		closedByServer(t, silent(t, h.addr))
	})
	clock.fire()
	child.stop(t)
}

type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
}

// asNobody starts this test binary as uid and gid 65534 with env, and
// waits for its "dialled" line.
func asNobody(t *testing.T, env string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "child")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for dir := filepath.Dir(bin); dir != "/"; dir = filepath.Dir(dir) {
		if st, err := os.Stat(dir); err == nil && st.Mode().Perm()&0o005 != 0o005 {
			os.Chmod(dir, st.Mode().Perm()|0o005)
		}
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{env}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the child as nobody: %v", err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { c.stop(t) })
	line, err := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "dialled ") {
		t.Fatalf("child as nobody: %q, %v", line, err)
	}
	return c
}

// stop closes the child's stdin and waits for it to exit.
func (c *child) stop(t *testing.T) {
	if c.stdin == nil {
		return
	}
	c.stdin.Close()
	c.stdin = nil
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("child as nobody: %v", err)
	}
}
