package benchnet

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/quic-go/quic-go"
)

// ErrUsage is the error of a bad command line (exit 2).
var ErrUsage = errors.New("usage: benchproc origin|exit|relay|entry [flags]")

type flags struct {
	listen, cert, key, ca, next, origin string
}

// Command runs benchproc with args (without the program name) until ctx
// ends; see command benchproc for the modes.
func Command(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return ErrUsage
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
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	ready := func(a net.Addr) { fmt.Fprintf(stdout, "listening %s\n", a) }
	switch mode {
	case "origin":
		var tlsConf *tls.Config
		if f.cert != "" || f.key != "" {
			var err error
			if tlsConf, err = ServerTLS(f.cert, f.key); err != nil {
				return err
			}
		}
		ln, err := net.Listen("tcp", f.listen)
		if err != nil {
			return err
		}
		ready(ln.Addr())
		return ServeOrigin(ctx, ln, tlsConf, log)
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
		return RunExit(ctx, ln, f.origin, log)
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
		return RunRelay(ctx, ln, next, log)
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
		return RunEntry(ctx, ln, next, log)
	}
	return fmt.Errorf("%w: unknown mode %q", ErrUsage, mode)
}

func need(mode, flagName, v string) error {
	if v == "" {
		return fmt.Errorf("%w: %s needs -%s", ErrUsage, mode, flagName)
	}
	return nil
}

// listenQUIC listens with Airlock's own QUIC settings.
func listenQUIC(f flags) (*quic.Listener, error) {
	if f.cert == "" || f.key == "" {
		return nil, fmt.Errorf("%w: a QUIC listener needs -cert and -key", ErrUsage)
	}
	tlsConf, err := ServerTLS(f.cert, f.key)
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
	tlsConf, err := ClientTLS(f.ca)
	if err != nil {
		return nil, err
	}
	qc, err := quic.DialAddr(ctx, f.next, tlsConf, edgeclient.DefaultQUICConfig())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", f.next, err)
	}
	return qc, nil
}
