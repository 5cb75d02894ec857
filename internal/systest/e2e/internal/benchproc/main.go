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
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
	"github.com/quic-go/quic-go"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(ctx, os.Args[1:], os.Stdout, log); err != nil {
		fmt.Fprintln(os.Stderr, "benchproc:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: benchproc origin|exit|relay|entry [flags]")

type flags struct {
	listen, cert, key, ca, next, origin string
}

func run(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return errUsage
	}
	mode := args[0]
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	var f flags
	fs.StringVar(&f.listen, "listen", "127.0.0.1:0", "address to listen on")
	fs.StringVar(&f.cert, "cert", "", "TLS certificate (exit, relay; origin: enables HTTPS)")
	fs.StringVar(&f.key, "key", "", "TLS key (exit, relay; origin: enables HTTPS)")
	fs.StringVar(&f.ca, "ca", "", "the certificate to trust when dialling (relay, entry)")
	fs.StringVar(&f.next, "next", "", "the next stage's QUIC address (relay, entry)")
	fs.StringVar(&f.origin, "origin", "", "the origin's TCP address (exit)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	ready := func(a net.Addr) { fmt.Fprintf(stdout, "listening %s\n", a) }
	switch mode {
	case "origin":
		var tlsConf *tls.Config
		if f.cert != "" || f.key != "" {
			var err error
			if tlsConf, err = benchnet.ServerTLS(f.cert, f.key); err != nil {
				return err
			}
		}
		ln, err := net.Listen("tcp", f.listen)
		if err != nil {
			return err
		}
		ready(ln.Addr())
		return benchnet.ServeOrigin(ctx, ln, tlsConf, log)
	case "exit":
		if err := need(mode, "origin", f.origin); err != nil {
			return err
		}
		ln, err := listenQUIC(f)
		if err != nil {
			return err
		}
		defer ln.Close()
		ready(ln.Addr())
		return benchnet.RunExit(ctx, ln, f.origin, log)
	case "relay":
		next, err := dialNext(ctx, mode, f)
		if err != nil {
			return err
		}
		defer next.CloseWithError(0, "relay stopping")
		ln, err := listenQUIC(f)
		if err != nil {
			return err
		}
		defer ln.Close()
		ready(ln.Addr())
		return benchnet.RunRelay(ctx, ln, next, log)
	case "entry":
		next, err := dialNext(ctx, mode, f)
		if err != nil {
			return err
		}
		defer next.CloseWithError(0, "entry stopping")
		ln, err := net.Listen("tcp", f.listen)
		if err != nil {
			return err
		}
		ready(ln.Addr())
		return benchnet.RunEntry(ctx, ln, next, log)
	}
	return fmt.Errorf("%w: unknown mode %q", errUsage, mode)
}

func need(mode, flagName, v string) error {
	if v == "" {
		return fmt.Errorf("%w: %s needs -%s", errUsage, mode, flagName)
	}
	return nil
}

// listenQUIC listens with Airlock's own QUIC settings.
func listenQUIC(f flags) (*quic.Listener, error) {
	if f.cert == "" || f.key == "" {
		return nil, fmt.Errorf("%w: a QUIC listener needs -cert and -key", errUsage)
	}
	tlsConf, err := benchnet.ServerTLS(f.cert, f.key)
	if err != nil {
		return nil, err
	}
	return quic.ListenAddr(f.listen, tlsConf, edgeclient.DefaultQUICConfig())
}

// dialNext dials the next stage with Airlock's own QUIC settings.
func dialNext(ctx context.Context, mode string, f flags) (*quic.Conn, error) {
	if err := need(mode, "next", f.next); err != nil {
		return nil, err
	}
	if err := need(mode, "ca", f.ca); err != nil {
		return nil, err
	}
	tlsConf, err := benchnet.ClientTLS(f.ca)
	if err != nil {
		return nil, err
	}
	qc, err := quic.DialAddr(ctx, f.next, tlsConf, edgeclient.DefaultQUICConfig())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", f.next, err)
	}
	return qc, nil
}
