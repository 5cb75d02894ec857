// Command airlock-demo runs the whole Airlock path on this machine — a real
// kube-apiserver (or a real cluster's API server with -origin), airlock-edge
// with its built-in user list, airlock-connector and `airlock daemon` —
// joins the edge with `airlock join` from a fresh home, signs in through the
// edge's login page and runs kubectl as the signed-in person. It
// is what `make demo` runs; Ctrl-C stops everything. See package
// internal/systest/demo.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/airlockhq/airlock/internal/systest/demo"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	var cfg demo.Config
	flag.StringVar(&cfg.Bin, "bin", "bin", "folder holding airlock, airlock-edge and airlock-connector (make build)")
	flag.StringVar(&cfg.Dir, "dir", "", "folder for the demo's state and logs (default: a new temporary folder)")
	flag.StringVar(&cfg.Origin, "origin", "", "a real cluster's API server (https://host:port or host:port) for the connector to dial instead of the local kube-apiserver (no airlock join, no cluster identity: it does not trust the demo edge)")
	flag.BoolVar(&cfg.Token, "token", false, "present a service token instead of signing in (no airlock join, no cluster identity)")
	browser := flag.String("browser", "auto", "who signs in: auto, system (your browser, via xdg-open), chromium (headless, driven by the demo), form (the login form over HTTP) or none (the device flow: a URL and a code)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "airlock-demo: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	var err error
	if cfg.Browser, err = demo.ParseBrowser(*browser); err != nil {
		fmt.Fprintln(os.Stderr, "airlock-demo:", err)
		os.Exit(2)
	}
	cfg.BuildLog = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "airlock-demo:", err)
		os.Exit(1)
	}
}
