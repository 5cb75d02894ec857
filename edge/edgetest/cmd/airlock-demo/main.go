// Command airlock-demo runs the whole Airlock path on this machine — a real
// kube-apiserver (or a real cluster's API server with -origin), airlock-edge,
// airlock-connector and `airlock daemon` — and prints the kubectl command to
// try. It is what `make demo` runs; Ctrl-C stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/airlockhq/airlock/connector/kapitest"
	"github.com/airlockhq/airlock/edge/edgetest/stack"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding airlock, airlock-edge and airlock-connector (make build)")
	dir := flag.String("dir", "", "folder for the demo's state and logs (default: a new temporary folder)")
	origin := flag.String("origin", "", "a real cluster's API server (https://host:port or host:port) for the connector to dial instead of the local kube-apiserver")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *dir, *origin); err != nil {
		fmt.Fprintln(os.Stderr, "airlock-demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin, dir, origin string) error {
	absBin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "airlock-demo-"); err != nil {
			return err
		}
	}
	logPath := filepath.Join(dir, "demo.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()

	opts := stack.Options{Bin: absBin, Dir: dir, Log: logf, Timeout: 2 * time.Minute}
	opts.KubeAPI = kapitest.Options{BuildLog: os.Stderr, Audit: true}
	if origin != "" {
		if opts.Origin, err = hostPort(origin); err != nil {
			return err
		}
	}
	fmt.Printf("starting the Airlock demo in %s (logs: %s)\n", dir, logPath)
	s, err := stack.Start(ctx, opts)
	if err != nil {
		return fmt.Errorf("%w\n(see %s)", err, logPath)
	}
	defer func() {
		fmt.Println("\nstopping…")
		if err := s.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "airlock-demo: stop:", err)
		}
	}()

	fmt.Printf(`
  edge        %s (UDP)   metrics %s/metrics
  connector   %s → %s      ready %s/ready
  daemon      cluster %q → app %s
  proxy-url   %s
`, s.EdgeAddr, s.EdgeAdmin, s.App, s.Origin, s.ConnAdmin, stack.DefaultCluster, s.App, s.ProxyURL())

	status := exec.CommandContext(ctx, filepath.Join(absBin, "airlock"), "status")
	status.Env = s.Env()
	status.Stdout, status.Stderr = os.Stdout, os.Stderr
	fmt.Println("\n$ airlock status")
	_ = status.Run()

	if s.Kubeconfig != "" {
		try := exec.CommandContext(ctx, "kubectl", "--kubeconfig", s.Kubeconfig, "get", "namespaces")
		try.Stdout, try.Stderr = os.Stdout, os.Stderr
		fmt.Printf("\n$ kubectl --kubeconfig %s get namespaces\n", s.Kubeconfig)
		if err := try.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "kubectl failed:", err)
		}
		fmt.Printf(`
The kubeconfig names %s, which resolves nowhere on this machine:
kubectl reaches the API server only through Airlock. Try, in another terminal:

  export KUBECONFIG=%s
  kubectl get namespaces
  kubectl create configmap hello --from-literal=from=airlock
  kubectl get configmaps -w
  XDG_RUNTIME_DIR=%s %s status

Each connection leaves one JSON audit line in the edge's log (%s).
`, stack.KubeServer, s.Kubeconfig, filepath.Dir(filepath.Dir(s.Socket)), filepath.Join(absBin, "airlock"), logPath)
	} else {
		fmt.Printf(`
Point your own kubeconfig's cluster at Airlock by adding, under its cluster entry:

    proxy-url: %s

then run kubectl as usual.
`, s.ProxyURL())
	}
	fmt.Println("\nPress Ctrl-C to stop.")
	select {
	case <-ctx.Done():
	case <-s.Edge.Done():
		return fmt.Errorf("the edge exited; see %s", logPath)
	case <-s.Connector.Done():
		return fmt.Errorf("the connector exited; see %s", logPath)
	case <-s.Daemon.Done():
		return fmt.Errorf("the daemon exited; see %s", logPath)
	}
	return nil
}

// hostPort accepts https://host:port, host:port or host (port 443).
func hostPort(s string) (string, error) {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("-origin %q: %w", s, err)
		}
		s = u.Host
	}
	if !strings.Contains(s, ":") {
		s += ":443"
	}
	return s, nil
}
