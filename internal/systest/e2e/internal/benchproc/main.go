// Command benchproc is the helper program of the end-to-end benchmark (make
// bench): each run is one process of a benchmarked path, so that every hop
// has its own process and Go scheduler as Airlock's programs do.
//
//	benchproc origin -listen ADDR [-cert FILE -key FILE]
//	benchproc exit   -listen ADDR -cert FILE -key FILE -origin ADDR
//	benchproc relay  -listen ADDR -cert FILE -key FILE -ca FILE -next ADDR
//	benchproc entry  -listen ADDR -ca FILE -next ADDR
//
// origin serves the benchmark's request protocol (package benchnet): a bulk
// download of a requested size, or an echo, and with -cert and -key HTTPS
// on connections that start with a TLS handshake. exit, relay and entry are the
// stages of the bare two-hop quic-go relay, started in that order:
// client → entry (TCP→QUIC) → relay (QUIC→QUIC) → exit (QUIC→TCP) → origin.
//
// Once it is ready to serve, each mode prints one line, "listening ADDR",
// with the address it bound, on stdout. It stops on SIGTERM or SIGINT and
// exits 0; it exits 1 on a failure, 2 on bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := benchnet.Command(ctx, os.Args[1:], os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "benchproc:", err)
		if errors.Is(err, benchnet.ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
