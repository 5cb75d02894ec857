package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// startStack starts a stack for one test and stops it when the test ends,
// failing the test unless every program exits 0 on SIGTERM.
func startStack(tb testing.TB, opts stack.Options) *stack.Stack {
	tb.Helper()
	if testing.Short() {
		tb.Skip("end-to-end test: not in -short mode")
	}
	opts.Bin = stack.Programs(tb)
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	if os.Getenv("AIRLOCK_E2E_VERBOSE") != "" {
		opts.Log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := stack.Start(ctx, opts)
	if err != nil {
		if s != nil {
			s.Close()
		}
		tb.Fatalf("start the stack: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("stop the stack: %v", err)
		}
		if tb.Failed() { // what each process said, for the failure's story
			for _, p := range []struct {
				name string
				p    *stack.Process
			}{{"edge", s.Edge}, {"connector", s.Connector}, {"daemon", s.Daemon}} {
				if p.p != nil {
					tb.Logf("%s output tail:\n%s", p.name, tailOf(p.p.Output()))
				}
			}
		}
	})
	return s
}

// kubectls returns the kubectl binaries on this machine: /usr/bin/kubectl
// and the versioned ones that ship with the Cloud SDK.
func kubectls(tb testing.TB) []string {
	tb.Helper()
	out := []string{testenv.File(tb, "/usr/bin/kubectl", "apt-get install kubectl")}
	for v := 27; v <= 33; v++ {
		p := fmt.Sprintf("/usr/lib/google-cloud-sdk/bin/kubectl.1.%d", v)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// kubectl runs kubectl with the stack's kubeconfig and returns stdout; it
// fails the test with stderr on error.
func kubectl(tb testing.TB, s *stack.Stack, bin string, args ...string) string {
	tb.Helper()
	out, err := runKubectl(s, bin, args...)
	if err != nil {
		tb.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return out
}

func runKubectl(s *stack.Stack, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", s.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+s.Dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// socksConnect dials target through the SOCKS5 proxy with user/pass
// authentication (offering the methods kubectl offers) and returns the
// proxy's refusal code, or the open connection when it accepted.
func socksConnect(ctx context.Context, proxy, user, pass, target string) (byte, net.Conn, error) {
	c, err := benchnet.DialSOCKS5(ctx, proxy, user, pass, target)
	if serr, ok := errors.AsType[*benchnet.SOCKSError](err); ok {
		return serr.Code, nil, nil
	}
	return 0, c, err
}
