// Command kapi-run builds (if needed) and runs a test kube-apiserver with an
// embedded etcd on loopback until SIGINT or SIGTERM.
//
//	kapi-run -build-only            # build into the cache, print the binary's path
//	kapi-run [-dir D] [-addr 127.0.0.1] [-audit] [-kubeconfig F] [-proxy-url socks5://…]
//
// Once the server is ready it prints shell assignments on stdout:
//
//	KAPI_URL=https://127.0.0.1:PORT
//	KUBECONFIG=/…/kubeconfig
//
// Build progress and errors go to stderr. See package kapitest.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	buildOnly := flag.Bool("build-only", false, "build the binary if missing, print its path and exit")
	dir := flag.String("dir", "", "folder for PKI, logs and etcd data (default: a temporary one, removed on exit)")
	addr := flag.String("addr", "127.0.0.1", "loopback IP to listen on (the port is a free one)")
	audit := flag.Bool("audit", false, "write an audit log (DIR/audit.log)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig to write (default DIR/kubeconfig)")
	proxyURL := flag.String("proxy-url", "", "proxy-url for the kubeconfig's cluster, e.g. socks5://127.0.0.2:1080")
	flag.Parse()
	if err := run(*buildOnly, kapitest.Options{Addr: *addr, Dir: *dir, Audit: *audit, BuildLog: os.Stderr}, *kubeconfig, *proxyURL); err != nil {
		fmt.Fprintf(os.Stderr, "kapi-run: %v\n", err)
		os.Exit(1)
	}
}

func run(buildOnly bool, opts kapitest.Options, kubeconfig, proxyURL string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if buildOnly {
		bin, err := kapitest.Build(ctx, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Println(bin)
		return nil
	}
	s, err := kapitest.StartProcess(ctx, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	if kubeconfig == "" {
		kubeconfig = filepath.Join(s.Dir, "kubeconfig")
	}
	if err := s.Kubeconfig(kubeconfig, proxyURL); err != nil {
		return err
	}
	fmt.Printf("KAPI_URL=%s\nKUBECONFIG=%s\n", s.URL, kubeconfig)
	select {
	case <-ctx.Done():
		return s.Close()
	case <-s.Exited():
		return fmt.Errorf("kube-apiserver exited:\n%s", s.LogTail(4000))
	}
}
