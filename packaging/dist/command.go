package dist

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Env is what the airlock-dist command needs from its process.
type Env struct {
	Stdout, Stderr io.Writer
	// Getenv is where SignOptionsFromEnv reads the signing certificate.
	Getenv func(string) string
}

// Command runs airlock-dist with args (without the program name): it parses
// the flags and builds the release ([Build]), then lists what it wrote on
// Stdout. It returns the exit code: 0 on success, 1 on any failure (bad
// flags and -h included).
func Command(ctx context.Context, args []string, env Env) int {
	if err := command(ctx, args, env); err != nil {
		fmt.Fprintln(env.Stderr, "airlock-dist:", err)
		return 1
	}
	return 0
}

func command(ctx context.Context, args []string, env Env) error {
	stdout, stderr := env.Stdout, env.Stderr
	fs := flag.NewFlagSet("airlock-dist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
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
			o.Targets = append(o.Targets, Target{OS: osName, Arch: arch})
		}
	}
	if *formats != "" {
		o.Formats = strings.Split(*formats, ",")
	}
	sign, err := SignOptionsFromEnv(env.Getenv)
	if err != nil {
		return err
	}
	o.Sign = sign
	o.Log = slog.New(slog.NewTextHandler(stderr, nil))
	if *verbose {
		o.BuildOutput = stderr
	}
	res, err := Build(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (package version %s):\n", o.Out, res.Version)
	for _, p := range res.Paths() {
		fmt.Fprintln(stdout, "  "+p)
	}
	return nil
}
