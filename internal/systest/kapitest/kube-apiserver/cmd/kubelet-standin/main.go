// Command kubelet-standin is a test-only kubelet: one node whose exec,
// attach, port-forward and logs are served by the real kubelet streaming
// library and whose containers are local processes. See package kubelet.
//
//	kubelet-standin --node=NAME --kubeconfig=FILE --cert=FILE --key=FILE --client-ca=FILE --dir=DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/internal/systest/kapitest/kube-apiserver/kubelet"
)

func main() {
	var cfg kubelet.Config
	flag.StringVar(&cfg.NodeName, "node", "standin", "node name")
	flag.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig for the kube-apiserver")
	flag.StringVar(&cfg.Addr, "addr", "", "listen address (default 127.0.0.1:0)")
	flag.StringVar(&cfg.CertFile, "cert", "", "serving certificate")
	flag.StringVar(&cfg.KeyFile, "key", "", "serving key")
	flag.StringVar(&cfg.ClientCAFile, "client-ca", "", "CA of accepted client certificates")
	flag.StringVar(&cfg.Dir, "dir", "", "folder for containers and logs")
	flag.Parse()
	cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := kubelet.Run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "kubelet-standin: %v\n", err)
		os.Exit(1)
	}
}
