// Package cli is the airlock-edge command line: the usage text, the
// parsing of each command's arguments and flags (init, tunnel create and
// rotate, token mint, list and revoke, user add, remove and revoke, key
// rotate, app kube-auth and set, invite, migrate, serve, version), what
// each prints, and the exit codes. What the commands do lives in package
// edge: serve is [edge.Serve], with SIGHUP wired to its reload.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/buildinfo"
)

// Env is what the airlock-edge commands need from their process.
type Env struct {
	// Stdin is where `user add` reads the password: its first line with
	// --password-stdin, else the terminal it must be (an *os.File).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Command runs the airlock-edge command in args (without the program name)
// and returns the exit code: 0 on success (and for -h), 2 on bad usage, 1 on
// any other failure. serve runs until ctx ends.
func Command(ctx context.Context, args []string, env Env) int {
	err := run(ctx, args, env)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(env.Stderr, "airlock-edge:", err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError is bad usage: a missing or unknown command or argument. It
// exits 2 where other errors exit 1.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg + " (see airlock-edge -h)" }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

const usage = `usage: airlock-edge COMMAND [flags]

commands:
  init [--dir D] [--hostname H ...] [--force]
        make a state folder: a local CA, the edge certificate (127.0.0.1, ::1,
        localhost and each --hostname), an Ed25519 token signing key and a
        starter config.yaml
  tunnel create NAME --hostname H [--hostname H ...] [--allow-email-domain D ...]
        add a tunnel serving the apps H and write its connector credentials
        file (DIR/tunnels/NAME.json, 0600); the edge keeps only a hash of
        the secret. New apps allow the given emails/domains, or nobody.
  tunnel rotate NAME [--credentials-file F]
        replace the tunnel's secret and write its new credentials file;
        the edge drops connections that used the old secret when it
        reloads the config
  token mint --app H --email E [--ttl 24h] [--group G ...] [--note TEXT]
        print a signed service token for E to open app H, and record its id
        (not the token) in the config
  token list
        show the recorded service tokens: id, subject, app, expiry, revoked
  token revoke ID
        revoke one service token: a running edge refuses it on its next
        connection; no other token is touched
  user add EMAIL [--group G ...] [--password-stdin]
        add (or update) a user of the built-in user list; the password is
        read from stdin (--password-stdin) or asked for, and only its bcrypt
        hash is kept
  user remove EMAIL
        remove a built-in user: their next connection is refused, also with
        the service tokens minted for EMAIL
  user revoke EMAIL
        revoke every sign-in and service token of EMAIL (built-in or
        upstream): refresh tokens stop working, access and service tokens
        are refused on the next connection
  app kube-auth APP [--issuer URL]
        print the kube-apiserver AuthenticationConfiguration (for
        --authentication-config) that trusts this edge as the issuer of
        APP's cluster credentials (apps[].kubernetes.oidc in the config)
  app set APP [--name N] [--display-name TEXT] [--kube-server URL]
        [--kube-ca-file F] [--kube-tls-server-name N]
        publish what people who join get for APP: its short name (their
        kubeconfig entries' names), the name their tray shows, and the API
        server kubectl dials, its CA and TLS name; an empty value removes
        the field
  invite [--public-url URL]
        print the invitation to join this edge: the airlock:// link (for a
        wiki page; the sign-in site's /connect page shows it too), the
        airlock join command, and the fingerprint of the edge's CA
  key rotate
        add a new token signing key first in the config; the old keys keep
        verifying the tokens they signed
  migrate [--status] [--store-url-file F | --store-url URL]
        bring the shared PostgreSQL store's schema (the config's store:
        section) up to date: a fleet runs this once per upgrade, or an edge
        starts with serve --migrate. --store-url-file F names the database
        without an edge config (a bare name is read from
        $CREDENTIALS_DIRECTORY); --store-url URL takes one only without a
        password (the password then from ~/.pgpass); --status only prints
        the versions
  serve [--migrate] [--advertise HOST:PORT]
        run the edge until SIGINT or SIGTERM; the config reloads when its
        file changes (and on SIGHUP) without dropping tunnels; --migrate
        first brings the store: schema up to date; --advertise stands for
        the config's advertise: (one config for several edges)
  version
        print the version

Every command takes --dir D (the state folder) or --config F (its
config.yaml). --dir defaults to $XDG_STATE_HOME/airlock-edge, else
~/.local/state/airlock-edge. Run "airlock-edge COMMAND -h" for its flags.
`

func run(ctx context.Context, args []string, env Env) error {
	stdout, stderr := env.Stdout, env.Stderr
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, buildinfo.Software("airlock-edge"))
		return nil
	case "init":
		return cmdInit(args[1:], stdout, stderr)
	case "tunnel":
		if len(args) < 2 {
			return usagef("tunnel: give a subcommand: create or rotate")
		}
		switch args[1] {
		case "create":
			return cmdTunnelCreate(args[2:], stdout, stderr)
		case "rotate":
			return cmdTunnelRotate(args[2:], stdout, stderr)
		}
		return usagef("tunnel: unknown subcommand %q (create, rotate)", args[1])
	case "token":
		if len(args) < 2 {
			return usagef("token: give a subcommand: mint, list or revoke")
		}
		switch args[1] {
		case "mint":
			return cmdTokenMint(args[2:], stdout, stderr)
		case "list":
			return cmdTokenList(args[2:], stdout, stderr)
		case "revoke":
			return cmdTokenRevoke(args[2:], stdout, stderr)
		}
		return usagef("token: unknown subcommand %q (mint, list, revoke)", args[1])
	case "user":
		if len(args) < 2 {
			return usagef("user: give a subcommand: add, remove or revoke")
		}
		switch args[1] {
		case "add":
			return cmdUserAdd(args[2:], env.Stdin, stdout, stderr)
		case "remove":
			return cmdUserRemove(args[2:], stdout, stderr)
		case "revoke":
			return cmdUserRevoke(args[2:], stdout, stderr)
		}
		return usagef("user: unknown subcommand %q (add, remove, revoke)", args[1])
	case "app":
		if len(args) < 2 {
			return usagef("app: give a subcommand: kube-auth or set")
		}
		switch args[1] {
		case "kube-auth":
			return cmdAppKubeAuth(args[2:], stdout, stderr)
		case "set":
			return cmdAppSet(args[2:], stdout, stderr)
		}
		return usagef("app: unknown subcommand %q (kube-auth, set)", args[1])
	case "invite":
		return cmdInvite(args[1:], stdout, stderr)
	case "key":
		if len(args) < 2 || args[1] != "rotate" {
			return usagef("key: the only subcommand is rotate")
		}
		return cmdKeyRotate(args[2:], stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], stdout, stderr)
	case "serve":
		return cmdServe(ctx, args[1:], stderr)
	}
	return usagef("unknown command %q", args[0])
}

// defaultDir is $XDG_STATE_HOME/airlock-edge, else ~/.local/state/airlock-edge.
func defaultDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "airlock-edge")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "airlock-edge")
	}
	return "airlock-edge"
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// location is the --dir / --config pair every command takes.
type location struct{ dir, config string }

func (l *location) register(fs *flag.FlagSet) {
	fs.StringVar(&l.dir, "dir", defaultDir(), "state `folder`")
	fs.StringVar(&l.config, "config", "", "config `file` (default DIR/config.yaml)")
}

func (l *location) path() string {
	if l.config != "" {
		return l.config
	}
	return filepath.Join(l.dir, edge.ConfigFile)
}

// parse parses flags and positional arguments in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func newFlagSet(name string, stderr io.Writer, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: airlock-edge %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func cmdInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("init", stderr, "init [--dir D] [--hostname H ...] [--force]")
	var (
		dir   = fs.String("dir", defaultDir(), "state `folder` to create")
		hosts stringList
		opts  edge.InitOptions
	)
	fs.Var(&hosts, "hostname", "extra DNS `name` or IP for the edge certificate (repeatable); the first is the TLS server name")
	fs.StringVar(&opts.Listen, "listen", edge.DefaultListen, "UDP `address` of the QUIC listener")
	fs.StringVar(&opts.AdminListen, "admin-listen", edge.DefaultAdminListen, "TCP `address` of /metrics and /healthz")
	fs.StringVar(&opts.HTTPListen, "http-listen", "", "TCP `address` of the HTTPS sign-in server (default: port 7843 on the --listen host if loopback, else 127.0.0.1:7843)")
	fs.BoolVar(&opts.Force, "force", false, "overwrite an existing state")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("init: unexpected argument %q", pos[0])
	}
	opts.Hostnames = hosts
	path, err := edge.Init(*dir, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created the edge state in %s\n  config: %s\n  CA:     %s\nnext: airlock-edge tunnel create NAME --hostname APP --dir %s\n",
		*dir, path, filepath.Join(*dir, edge.CACertFile), *dir)
	return nil
}

func cmdTunnelCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tunnel create", stderr, "tunnel create NAME --hostname H [--hostname H ...] [flags]")
	var (
		loc                   location
		hosts, emails, domain stringList
		credsFile             = fs.String("credentials-file", "", "where to write the connector credentials (default DIR/tunnels/NAME.json)")
	)
	loc.register(fs)
	fs.Var(&hosts, "hostname", "app `hostname` the tunnel serves (repeatable, at least one)")
	fs.Var(&emails, "allow-email", "`email` allowed to open new apps (repeatable)")
	fs.Var(&domain, "allow-email-domain", "email `domain` allowed to open new apps (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("tunnel create: give exactly one tunnel NAME")
	}
	ct, err := edge.CreateTunnel(loc.path(), pos[0], edge.TunnelOptions{
		Hostnames:       hosts,
		Policy:          edge.Policy{Allow: edge.Rule{Emails: emails, EmailDomains: domain}},
		CredentialsFile: *credsFile,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created tunnel %s (id %s)\n  credentials: %s\n", pos[0], ct.Credentials.TunnelID, ct.CredentialsFile)
	for _, a := range ct.NewApps {
		if len(emails)+len(domain) == 0 {
			fmt.Fprintf(stdout, "  app %s: allows nobody until you set its policy in %s\n", a, loc.path())
		} else {
			fmt.Fprintf(stdout, "  app %s: allows %s\n", a, strings.Join(append(append([]string{}, emails...), domain...), ", "))
		}
	}
	fmt.Fprintf(stdout, "run: airlock-connector --credentials %s --url tcp://ORIGIN:PORT\n", ct.CredentialsFile)
	return nil
}

func cmdTokenMint(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("token mint", stderr, "token mint --app H --email E [--ttl D] [--group G ...] [--note TEXT]")
	var (
		loc    location
		o      edge.MintOptions
		groups stringList
	)
	loc.register(fs)
	fs.StringVar(&o.App, "app", "", "app `hostname` (the token's audience; required)")
	fs.StringVar(&o.Email, "email", "", "the identity's `email` (required)")
	fs.DurationVar(&o.TTL, "ttl", 0, "lifetime (default: tokens.service_ttl of the config, 24h)")
	fs.Var(&groups, "group", "`group` claim (repeatable)")
	fs.StringVar(&o.Note, "note", "", "what the token is for, shown by token list")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("token mint: unexpected argument %q", pos[0])
	}
	if o.App == "" || o.Email == "" {
		return usagef("token mint: --app and --email are required")
	}
	o.Groups = groups
	tok, rec, err := edge.MintToken(loc.path(), o)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, tok); err != nil {
		return err
	}
	// stdout is the token alone, for scripts; the id goes to stderr.
	fmt.Fprintf(stderr, "service token %s for %s, app %s, expires %s (airlock-edge token revoke %s refuses it)\n",
		rec.ID, rec.Email, rec.App, rec.Expires.Format(time.RFC3339), rec.ID)
	return nil
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr, "serve [--dir D | --config F] [flags]")
	var loc location
	loc.register(fs)
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	migrate := fs.Bool("migrate", false, "bring the store: schema up to date before serving (see airlock-edge migrate)")
	advertise := fs.String("advertise", "", "`host:port` connectors of the fleet dial to reach this edge, instead of the config's advertise: (e.g. a pod's own IP)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve: unexpected argument %q", pos[0])
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	if *migrate {
		if err := migrateForServe(ctx, loc.path(), log); err != nil {
			return err
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return edge.Serve(ctx, edge.ServeOptions{ConfigPath: loc.path(), Logger: log, Reload: hup, Advertise: *advertise})
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: %v", level, err)
	}
	o := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}
