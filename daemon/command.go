package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"

	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/kubeconfig"
	"github.com/airlockhq/airlock/daemon/safesocket"
)

// Env is what the `airlock daemon` command needs from its process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Version        string
}

// Command runs `airlock daemon [--config FILE] [--socket PATH] [--log-level
// LEVEL]` in the foreground until ctx ends, and returns the exit code: 0
// after a clean stop, 1 on failure (a bad config, another daemon running),
// 2 on bad usage.
func Command(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("airlock daemon", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	cfgPath := fs.String("config", "", "configuration file (default $XDG_CONFIG_HOME/airlock/config.yaml)")
	socket := fs.String("socket", "", "control socket (default $XDG_RUNTIME_DIR/airlock/airlock.sock)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock daemon [--config FILE] [--socket PATH] [--log-level LEVEL]")
		fmt.Fprintln(env.Stderr, "Runs the Airlock daemon in the foreground: one SOCKS5 proxy per cluster and the control API.")
		fmt.Fprintln(env.Stderr, "Changes to the configuration file apply while it runs; a file that does not load is shown by `airlock status` and `airlock doctor`.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "airlock daemon: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(env.Stderr, "airlock daemon: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: lvl}))

	path := *cfgPath
	if path == "" {
		p, err := config.DefaultPath(env.Getenv)
		if err != nil {
			fmt.Fprintf(env.Stderr, "airlock daemon: %v\n", err)
			return 1
		}
		path = p
	}
	cfg, err := config.Load(path)
	if errors.Is(err, iofs.ErrNotExist) {
		// A fresh install: the daemon waits for `airlock join`.
		log.Info("no configuration file yet: waiting for `airlock join EDGE`", "config", path)
		cfg, err = config.NotJoined(path), nil
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "airlock daemon: %v\n", err)
		return 1
	}
	sock := *socket
	if sock == "" {
		sock = safesocket.Path(env.Getenv)
	}
	var kube kubeconfig.Options
	if paths, err := kubeconfig.DefaultPaths(env.Getenv); err == nil {
		kube.Paths = paths
	}
	d, err := New(Options{Config: cfg, Socket: sock, Logger: log, Version: env.Version, Kubeconfig: kube, SignIn: SignInOptions{Getenv: env.Getenv}})
	if err != nil {
		fmt.Fprintf(env.Stderr, "airlock daemon: %v\n", err)
		return 1
	}
	if err := d.Run(ctx); err != nil {
		var ar *safesocket.AlreadyRunningError
		if errors.As(err, &ar) {
			fmt.Fprintf(env.Stderr, "airlock daemon: %v\n", err)
			return 1
		}
		log.Error("airlock daemon failed", "err", err)
		return 1
	}
	log.Info("airlock daemon stopped")
	return 0
}
