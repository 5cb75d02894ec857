// Command kapi-run builds (if needed) and runs a test kube-apiserver with an
// embedded etcd on loopback until SIGINT or SIGTERM.
//
//	kapi-run -build-only            # build into the cache, print the binary's path
//	kapi-run [-dir D] [-addr 127.0.0.1] [-audit] [-kubelet] [-kubeconfig F] [-proxy-url socks5://…]
//
// Once the server is ready it prints shell assignments on stdout:
//
//	KAPI_URL=https://127.0.0.1:PORT
//	KUBECONFIG=/…/kubeconfig
//	KAPI_NODE=kapitest-node   (with -kubelet)
//
// Build progress and errors go to stderr. See package kapitest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
)

func main() {
	buildOnly := flag.Bool("build-only", false, "build the binary if missing, print its path and exit")
	dir := flag.String("dir", "", "folder for PKI, logs and etcd data (default: a temporary one, removed on exit)")
	addr := flag.String("addr", "127.0.0.1", "loopback IP to listen on (the port is a free one)")
	audit := flag.Bool("audit", false, "write an audit log (DIR/audit.log)")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig to write (default DIR/kubeconfig)")
	proxyURL := flag.String("proxy-url", "", "proxy-url for the kubeconfig's cluster, e.g. socks5://127.0.0.2:1080")
	kubelet := flag.Bool("kubelet", false, "also run a kubelet stand-in as node "+kapitest.NodeName+" (with -build-only: build it too)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := kapitest.Options{Addr: *addr, Dir: *dir, Audit: *audit, Kubelet: *kubelet, BuildLog: os.Stderr}
	if err := kapitest.Run(ctx, os.Stdout, *buildOnly, opts, *kubeconfig, *proxyURL); err != nil {
		stop()
		fmt.Fprintf(os.Stderr, "kapi-run: %v\n", err)
		os.Exit(1)
	}
}
