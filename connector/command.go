package connector

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/airlockhq/airlock/connector/ingress"
	"github.com/airlockhq/airlock/internal/buildinfo"
)

// Env is what the airlock-connector command needs from its process.
type Env struct {
	Stdout, Stderr io.Writer
}

// Command runs airlock-connector with args (without the program name): it
// parses the flags and the --config file and runs the connector ([Run])
// until ctx ends. It returns the exit code: 0 after a clean stop, -h or
// --version, 1 on any failure (bad flags included).
func Command(ctx context.Context, args []string, env Env) int {
	err := command(ctx, args, env.Stdout, env.Stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(env.Stderr, "airlock-connector:", err)
	return 1
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("airlock-connector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o          Options
		edges      stringList
		rules      stringList
		configFile = fs.String("config", "", "YAML `file` with the same settings (flags win; ingress rules from flags come first)")
		logLevel   = fs.String("log-level", "info", "debug, info, warn or error")
		logFormat  = fs.String("log-format", "text", "text or json")
		version    = fs.Bool("version", false, "print the version and exit")
	)
	fs.StringVar(&o.CredentialsFile, "credentials", "", "tunnel credentials `file` from airlock-edge tunnel create (required)")
	fs.Var(&edges, "edge", "edge UDP `host:port` (repeatable; default: the edges in the credentials file)")
	fs.IntVar(&o.HAConnections, "ha-connections", DefaultHAConnections, "connections to each edge")
	fs.Var(&rules, "ingress", "ingress rule `HOSTNAME=tcp://HOST:PORT` or HOSTNAME=deny, first match wins; *.example.com matches names under it (repeatable)")
	fs.StringVar(&o.URL, "url", "", "origin `tcp://HOST:PORT` for every app of the tunnel (a catch-all after the --ingress rules)")
	fs.DurationVar(&o.Grace, "grace", DefaultGrace, "on SIGTERM, how long open streams may finish (0: none)")
	fs.DurationVar(&o.OriginDialTimeout, "origin-dial-timeout", DefaultOriginDialTimeout, "timeout of one TCP dial to an origin")
	fs.StringVar(&o.Admin, "admin", DefaultAdminAddr, "`address` of the /ready, /healthz and /metrics listener, or off")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: airlock-connector --credentials FILE [--ingress HOST=tcp://ORIGIN:PORT ... | --url tcp://ORIGIN:PORT | --config FILE] [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Fprintln(stdout, buildinfo.Software("airlock-connector"))
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see -h)", fs.Arg(0))
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	o.Edges = edges
	for i, r := range rules {
		rule, err := ingress.ParseFlag(r, fmt.Sprintf("--ingress #%d", i+1))
		if err != nil {
			return err
		}
		o.Ingress = append(o.Ingress, rule)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	base := &Options{}
	if *configFile != "" {
		if base, err = LoadOptions(*configFile); err != nil {
			return err
		}
	}
	cfg, err := base.Override(o, func(name string) bool { return set[name] }).Resolve()
	if err != nil {
		return err
	}
	cfg.Logger = log
	return Run(ctx, cfg)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
