// Command airlock-dist builds Airlock's release into a folder: what `make
// dist` runs. Signing airlock.exe takes its certificate from the
// environment (see dist.SignOptionsFromEnv). Logic lives in packaging/dist.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/airlockhq/airlock/packaging/dist"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "airlock-dist:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("airlock-dist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o dist.Options
	fs.StringVar(&o.Root, "root", "", "module `folder` (default: the current folder's module)")
	fs.StringVar(&o.Out, "out", "dist", "output `folder`; must be missing or empty")
	fs.StringVar(&o.Version, "version", "dev", "version to stamp, as git describe --tags --always --dirty prints it")
	fs.StringVar(&o.Commit, "commit", "unknown", "commit to stamp")
	targets := fs.String("targets", "", "comma-separated `OS-ARCH` list (default linux-amd64,linux-arm64,windows-amd64)")
	formats := fs.String("formats", "", "comma-separated package formats (default deb,rpm)")
	verbose := fs.Bool("v", false, "show the go command's output")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	if *targets != "" {
		for _, t := range strings.Split(*targets, ",") {
			osName, arch, ok := strings.Cut(strings.TrimSpace(t), "-")
			if !ok {
				return fmt.Errorf("-targets: %q: want OS-ARCH, e.g. linux-amd64", t)
			}
			o.Targets = append(o.Targets, dist.Target{OS: osName, Arch: arch})
		}
	}
	if *formats != "" {
		o.Formats = strings.Split(*formats, ",")
	}
	sign, err := dist.SignOptionsFromEnv(getenv)
	if err != nil {
		return err
	}
	o.Sign = sign
	o.Log = slog.New(slog.NewTextHandler(stderr, nil))
	if *verbose {
		o.BuildOutput = stderr
	}
	res, err := dist.Build(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (package version %s):\n", o.Out, res.Version)
	for _, p := range res.Paths() {
		fmt.Fprintln(stdout, "  "+p)
	}
	return nil
}
