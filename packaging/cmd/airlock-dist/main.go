// Command airlock-dist builds Airlock's release into a folder: what `make
// dist` runs. Signing airlock.exe takes its certificate from the
// environment (see dist.SignOptionsFromEnv). Logic lives in packaging/dist.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlockhq/airlock/packaging/dist"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dist.Command(ctx, os.Args[1:], dist.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
