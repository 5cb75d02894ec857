// Command airlock is the program users install: `airlock` (or `airlock
// tray`) shows the tray and starts the daemon when none runs; `airlock
// daemon` runs the daemon headless; `airlock status | connect NAME |
// disconnect NAME | doctor | …` talk to it over its control API. Logic
// lives in tray/app, tray/cli and daemon.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/daemon"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/tray/app"
	"github.com/airlockhq/airlock/tray/cli"
)

// checkConfig loads the configuration at path (the default when empty)
// for `airlock doctor`.
func checkConfig(path string) (string, string, error) {
	if path == "" {
		p, err := config.DefaultPath(os.Getenv)
		if err != nil {
			return "", "", err
		}
		path = p
	}
	cfg, err := config.Load(path)
	if err != nil {
		return path, "", err
	}
	return path, fmt.Sprintf("%d edge(s), %d cluster(s)", len(cfg.Edges), len(cfg.Clusters)), nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ver, rev := edge.BuildVersion()
	env := cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Version: ver + " (" + rev + ")"}
	env.Daemon = func(ctx context.Context, args []string) int {
		return daemon.Command(ctx, args, daemon.Env{Stdout: env.Stdout, Stderr: env.Stderr, Getenv: env.Getenv, Version: env.Version})
	}
	env.Tray = func(ctx context.Context, args []string) int {
		exe, _ := os.Executable()
		return app.Command(ctx, args, app.Env{Stdout: env.Stdout, Stderr: env.Stderr, Getenv: env.Getenv, Executable: exe})
	}
	env.CheckConfig = checkConfig
	code := cli.Main(ctx, os.Args[1:], env)
	stop()
	os.Exit(code)
}
