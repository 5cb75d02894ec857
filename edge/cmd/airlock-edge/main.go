// Command airlock-edge is the Airlock edge: it makes its state folder
// (init), adds tunnels for connectors (tunnel create), mints, lists and
// revokes service tokens (token mint, list, revoke), manages the built-in
// users (user add, remove, revoke), rotates the token signing key (key
// rotate) and serves (serve). The command line lives in edge/cli, the
// server and its lifecycle in edge.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/edge/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli.Command(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
