// Command airlock is the program users install: `airlock daemon` runs the
// daemon headless; `airlock status | connect NAME | disconnect NAME` talk
// to it over its control API. (The tray comes later.) Logic lives in
// tray/cli and daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/tray/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ver, rev := edge.BuildVersion()
	env := cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Version: ver + " (" + rev + ")"}
	env.Daemon = func(ctx context.Context, args []string) int {
		return daemon.Command(ctx, args, daemon.Env{Stdout: env.Stdout, Stderr: env.Stderr, Getenv: env.Getenv, Version: env.Version})
	}
	code := cli.Main(ctx, os.Args[1:], env)
	stop()
	os.Exit(code)
}
