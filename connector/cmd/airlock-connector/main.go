// Command airlock-connector runs next to a private origin (a Kubernetes API
// server) and serves it through Airlock edges: it dials out to every edge,
// checks each stream's forwarded identity again and dials only the origins
// its ingress rules name. The command line and the connector live in
// package connector.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/connector"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := connector.Command(ctx, os.Args[1:], connector.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
