package kubeconfig

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/internal/testenv"
)

const crashChildEnv = "AIRLOCK_KUBECONFIG_CRASH_CHILD"

// TestCrashChild is the child of TestKillDuringWrites: it connects and disconnects in
// a loop, printing a line after each, until it is killed.
func TestCrashChild(t *testing.T) {
	p := os.Getenv(crashChildEnv)
	if p == "" {
		t.Skip("runs only as the child of TestKillDuringWrites")
	}
	s, err := New(nil, Options{Paths: []string{p}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		if err := s.Connect(ctx, prodTarget, fmt.Sprintf("socks5://airlock:pw%d@127.0.0.2:1080", i)); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("connected")
		if err := s.Disconnect(ctx, "prod"); err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("disconnected")
	}
}

// TestKillDuringWrites kills (SIGKILL) a process that writes the kubeconfig in a loop,
// many times: the file is always the original or a complete connected version, never
// truncated or corrupt, kubectl reads it, and Cleanup gives back the original byte for
// byte with no temporary or lock file left.
func TestKillDuringWrites(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("child")
	}
	rounds := 30
	if testing.Short() {
		rounds = 8
	}
	kubectlBin := "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
	if _, err := os.Stat(kubectlBin); err != nil {
		if testenv.CI() {
			t.Fatalf("%s is needed: %v", kubectlBin, err)
		}
		kubectlBin = "" // the file checks still run
	}
	dir := t.TempDir()
	orig := readFile(t, "testdata/golden/comments.yaml")
	p := writeFile(t, dir, "config", orig)
	var connected, locks, temps int
	defer func() {
		t.Logf("%d rounds: %d left connected, %d left a lock, %d left a temporary file", rounds, connected, locks, temps)
	}()
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+p)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		for range 1 + rand.IntN(6) {
			if !lines.Scan() {
				t.Fatalf("child stopped: %v", lines.Err())
			}
			if text := lines.Text(); text != "connected" && text != "disconnected" {
				t.Fatalf("child: %s", text)
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		if _, err := os.Stat(p + ".lock"); err == nil {
			locks++
		}
		if m, _ := filepath.Glob(filepath.Join(dir, ".config.airlock-*.tmp")); len(m) > 0 {
			temps++
		}
		got := readFile(t, p)
		if got != orig {
			connected++
			proxy, rec := proxyOf(t, got, "prod") // fails on a corrupt file
			if proxy == "" || !rec {
				t.Fatalf("round %d: neither original nor connected:\n%s", round, got)
			}
		}
		if kubectlBin != "" && round%5 == 0 {
			if _, err := kubectl(t, kubectlBin, p, "config", "view", "--raw"); err != nil {
				t.Fatalf("round %d: kubectl cannot read the file: %v", round, err)
			}
		}
		if err := Cleanup(context.Background(), testLog(t), Options{Paths: []string{p}, LockTimeout: 100e6}); err != nil {
			t.Fatalf("round %d: Cleanup: %v", round, err)
		}
		if got := readFile(t, p); got != orig {
			t.Fatalf("round %d: Cleanup did not give back the original:\n%s", round, got)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 1 {
			t.Fatalf("round %d: left behind: %v", round, left)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
			t.Fatalf("round %d: left behind: %v", round, left)
		}
	}
}
