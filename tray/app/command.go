package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/internal/joinlink"
)

// Env is what `airlock tray` needs from its process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Executable is this program (os.Executable): the tray starts
	// `Executable daemon …` when no daemon answers.
	Executable string
	// Configure, when set, adjusts the options before the tray runs
	// (main wires sign-in here once the client offers it).
	Configure func(*Options)
}

// Command runs `airlock [tray] [--socket PATH] [--config FILE]
// [--log-level LEVEL] [--headless] [--no-start] [airlock://join?…]` until
// ctx ends or the user quits, and returns the exit code. Given an
// airlock://join? link (the desktop opened one) it asks the daemon to join
// that edge: when a daemon already answers that is all it does; else it
// runs the tray, which starts the daemon, and joins once it answers.
func Command(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("airlock tray", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	socket := fs.String("socket", "", "control socket of the daemon (default $XDG_RUNTIME_DIR/airlock/airlock.sock)")
	config := fs.String("config", "", "configuration file for a daemon the tray starts (default $XDG_CONFIG_HOME/airlock/config.yaml)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error (also for a daemon the tray starts)")
	headless := fs.Bool("headless", false, "run without a tray icon: start or attach to the daemon and log its changes")
	noStart := fs.Bool("no-start", false, "never start a daemon; only attach to a running one")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock [tray] [--socket PATH] [--config FILE] [--log-level LEVEL] [--headless] [--no-start] [airlock://join?…]")
		fmt.Fprintln(env.Stderr, "Shows Airlock in the system tray; starts `airlock daemon` when none is running.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var link *joinlink.Invite
	switch {
	case fs.NArg() == 1 && isLink(fs.Arg(0)):
		inv, err := parseLinkArg(fs.Arg(0))
		if err != nil {
			fmt.Fprintf(env.Stderr, "airlock tray: %v\n", err)
			return 2
		}
		link = &inv
	case fs.NArg() > 0:
		fmt.Fprintf(env.Stderr, "airlock tray: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(env.Stderr, "airlock tray: --log-level: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: lvl})).With("part", "tray")
	c := &client.Client{Socket: *socket}
	if env.Executable != "" {
		if wrote, err := registerURLHandler(env.Executable); err != nil {
			log.Warn("airlock:// links will not open Airlock", "err", err)
		} else if wrote {
			log.Info("registered Airlock as the handler of airlock:// links")
		}
	}
	if link != nil && daemonAnswers(ctx, c) {
		if err := joinFromLink(ctx, c, *link, log); err != nil {
			log.Error("the link's join failed", "err", err)
			return 1
		}
		return 0
	}
	opts := Options{Client: c, Logger: log, Getenv: env.Getenv, Headless: *headless, ConfigPath: *config}
	if !*noStart {
		if env.Executable == "" {
			fmt.Fprintln(env.Stderr, "airlock tray: cannot find this program to start the daemon; use --no-start")
			return 1
		}
		dargs := []string{"daemon", "--socket", c.SocketPath(), "--log-level", *level}
		if *config != "" {
			dargs = append(dargs, "--config", *config)
		}
		opts.Supervisor = NewSupervisor(SupervisorOptions{
			Logger:     log.With("part", "supervisor"),
			Executable: env.Executable,
			Args:       dargs,
			Stderr:     env.Stderr,
			Answers: func(ctx context.Context) bool {
				ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				_, err := c.Status(ctx)
				return err == nil
			},
		})
	}
	// "Sign in…" and "Sign out" (POST /v1/login, /v1/logout).
	opts.SignIn = func(ctx context.Context) error {
		_, err := c.Login(ctx, apitype.LoginRequest{})
		return err
	}
	opts.SignOut = func(ctx context.Context) error {
		_, err := c.Logout(ctx, apitype.LogoutRequest{})
		return err
	}
	if env.Configure != nil {
		env.Configure(&opts)
	}
	var joined sync.WaitGroup
	if link != nil {
		jctx, stop := context.WithCancel(ctx)
		defer func() {
			stop()
			joined.Wait()
		}()
		joined.Go(func() {
			if err := joinFromLink(jctx, c, *link, log); err != nil && jctx.Err() == nil {
				log.Error("the link's join failed", "err", err)
			}
		})
	}
	if err := New(opts).Run(ctx); err != nil {
		log.Error("airlock tray failed", "err", err)
		return 1
	}
	return 0
}

// daemonAnswers reports whether a daemon answers on c now.
func daemonAnswers(ctx context.Context, c *client.Client) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.Status(ctx)
	return err == nil
}
