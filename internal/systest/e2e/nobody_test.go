package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/stack"
)

// TestSignInNobodyToAsk is issue 11 item 6 as a new user met it: a
// headless daemon (no browser, no tray, no airlock login waiting), signed
// out, and kubectl. With sign_in.wait at an hour, kubectl gets its answer
// at once, and its text says "not allowed" rather than being held; the
// daemon log, airlock status and airlock doctor say to run airlock login.
// Then airlock login (the device flow) is not refused: the person asked.
func TestSignInNobodyToAsk(t *testing.T) {
	bin := testenvKubectl(t)
	s := startStack(t, stack.Options{
		SignIn: &stack.SignIn{
			Users: []stack.User{{Email: "demo@airlock.test", Password: "demo-password-1"}},
			Wait:  time.Hour,
		},
		DaemonEnv: []string{"BROWSER=", "DISPLAY=", "WAYLAND_DISPLAY="},
	})
	for i := range 2 { // the second run does not wait on a dead attempt
		_, err := runKubectl(s, bin, "get", "--raw", "/version")
		if err == nil || !strings.Contains(err.Error(), "socks connect tcp") || !strings.Contains(err.Error(), "unknown error connection not allowed by ruleset") {
			t.Fatalf("kubectl run %d, signed out with nobody to ask: %v", i, err)
		}
		t.Logf("kubectl says: %s", lastLine(err.Error()))
	}
	if out := s.Daemon.Output(); !strings.Contains(out, "run `airlock login`") {
		t.Fatalf("the daemon log does not say what to run:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, verb := range []string{"status", "doctor"} {
		cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock"), verb)
		cmd.Env = s.Env()
		out, _ := cmd.CombinedOutput() // doctor exits non-zero on a warning
		if !strings.Contains(string(out), "airlock login") || !strings.Contains(string(out), "nobody") {
			t.Fatalf("airlock %s does not say to run airlock login:\n%s", verb, out)
		}
		t.Logf("airlock %s: %s", verb, lineWith(string(out), "airlock login"))
	}
	// airlock login asks the person: the device flow starts (its code is
	// printed), however headless the daemon.
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock"), "login", "--device")
	cmd.Env = s.Env()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "code") {
		n, err := out.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("airlock login ended without a code: %v\n%s\ndaemon:\n%s", err, got.String(), s.Daemon.Output())
		}
	}
	cmd.Process.Kill() //nolint:errcheck // the person never enters it
	cmd.Wait()         //nolint:errcheck
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
