// Command airlock is the program users install: `airlock` (or `airlock
// tray`) shows the tray and starts the daemon when none runs; `airlock
// daemon` runs the daemon headless; `airlock status | connect NAME |
// disconnect NAME | doctor | …` talk to it over its control API; `airlock
// airlock://join?…` (a link the desktop opens) joins that edge. Logic
// lives in tray/app, daemon/cli and daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/cli"
	"github.com/airlockhq/airlock/internal/buildinfo"
	"github.com/airlockhq/airlock/tray/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ver, rev := buildinfo.BuildVersion()
	env := cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Version: ver + " (" + rev + ")"}
	env.Daemon = func(ctx context.Context, args []string) int {
		return daemon.Command(ctx, args, daemon.Env{Stdout: env.Stdout, Stderr: env.Stderr, Getenv: env.Getenv, Version: env.Version})
	}
	env.Tray = func(ctx context.Context, args []string) int {
		exe, _ := os.Executable()
		return app.Command(ctx, args, app.Env{Stdout: env.Stdout, Stderr: env.Stderr, Getenv: env.Getenv, Executable: exe})
	}
	args := os.Args[1:]
	var code int
	if len(args) > 0 && strings.HasPrefix(strings.ToLower(args[0]), "airlock:") {
		// The desktop opened an airlock:// link (`airlock %u`, "%1"): the
		// tray parses it strictly and joins.
		code = env.Tray(ctx, args)
	} else {
		code = cli.Main(ctx, args, env)
	}
	stop()
	os.Exit(code)
}
