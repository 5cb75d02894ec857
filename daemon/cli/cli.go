// Package cli is the daemon's command line: the verbs of the `airlock`
// program that talk to a running daemon over its control API (status,
// connect, disconnect, login, logout, credential, doctor), and the dispatch
// of `airlock daemon` and `airlock tray` to the functions main wires in. It links
// neither the daemon's core (quic-go, the keychain) nor the tray (systray):
// the dependency rules in internal/layout say so.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/airlockhq/airlock/daemon/client"
)

// Env is what the verbs need from the process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Version is printed by `airlock version`.
	Version string
	// Daemon runs `airlock daemon ARGS` and returns its exit code; main
	// wires it to daemon.Command.
	Daemon func(ctx context.Context, args []string) int
	// Tray runs `airlock [tray] ARGS` and returns its exit code; main
	// wires it to tray/app.Command. Nil: `airlock` alone prints usage.
	Tray func(ctx context.Context, args []string) int
	// CheckConfig loads a configuration for `airlock doctor`; nil means
	// daemon/config (the file the daemon reads).
	CheckConfig ConfigCheck
}

const usage = `usage: airlock [COMMAND] [ARGS]

Commands:
  tray                   show Airlock in the system tray (the default without a command);
                         starts the daemon when none is running
  daemon                 run the daemon in the foreground (SOCKS5 proxies and the control API)
  join EDGE              join an edge (host name, https URL or airlock://join?… link; --ca sha256:HEX):
                         sign in, then get a kubeconfig context for every cluster you may use
  sync [EDGE]            fetch the joined edge's catalogue now (contexts added and removed)
  leave [EDGE]           leave a joined edge: sign out, give the kubeconfig and configuration back
  status [--json]        show each cluster's state, address and proxy-url, and each edge
  status --watch         print each state change as it happens
  connect NAME           bring a cluster's proxy up
  disconnect NAME        take a cluster's proxy down
  login [--device] [EDGE]  sign in now (browser, or a URL and code with --device) and wait
  logout [EDGE]          sign out: revoke at the edge, delete tokens from every store
  credential --cluster NAME  print the cluster's ExecCredential for kubectl (exec plugin): your
                         own identity at an API server that trusts the edge; signs in when needed
  doctor                 check the config, daemon, token store, tray host, edges and kubeconfig; say what to fix
  version                print the version

Commands that talk to the daemon take --socket PATH (default $XDG_RUNTIME_DIR/airlock/airlock.sock).
`

// Main runs the command in args (without the program name) and returns
// the exit code: 0 on success, 1 on failure, 2 on bad usage.
func Main(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 || (env.Tray != nil && len(args[0]) > 0 && args[0][0] == '-' && args[0] != "-h" && args[0] != "--help" && args[0] != "--version") {
		if env.Tray == nil {
			fmt.Fprint(env.Stderr, usage)
			return 2
		}
		return env.Tray(ctx, args)
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "tray":
		if env.Tray == nil {
			fmt.Fprintln(env.Stderr, "airlock: this build has no tray")
			return 1
		}
		return env.Tray(ctx, rest)
	case "daemon":
		if env.Daemon == nil {
			fmt.Fprintln(env.Stderr, "airlock: this build has no daemon")
			return 1
		}
		return env.Daemon(ctx, rest)
	case "status":
		return statusCmd(ctx, rest, env)
	case "connect", "disconnect":
		return connectCmd(ctx, verb, rest, env)
	case "doctor":
		return doctorCmd(ctx, rest, env)
	case "login":
		return loginCmd(ctx, rest, env)
	case "logout":
		return logoutCmd(ctx, rest, env)
	case "credential":
		return credentialCmd(ctx, rest, env)
	case "join":
		return joinCmd(ctx, rest, env)
	case "sync":
		return syncCmd(ctx, rest, env)
	case "leave":
		return leaveCmd(ctx, rest, env)
	case "version", "--version":
		fmt.Fprintf(env.Stdout, "airlock %s\n", env.Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(env.Stderr, "airlock: unknown command %q\n\n%s", verb, usage)
		return 2
	}
}

// flags returns a flag set for verb with --socket, and the client it
// configures once parsed.
func flags(verb string, env Env) (*flag.FlagSet, func() *client.Client) {
	fs := flag.NewFlagSet("airlock "+verb, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	socket := fs.String("socket", "", "control socket of the daemon")
	return fs, func() *client.Client { return &client.Client{Socket: *socket} }
}

// parse parses args, returning an exit code when the command should stop.
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// parseAtMost is parse for a command that takes at most n arguments
// after its flags: more print the usage and exit 2.
func parseAtMost(fs *flag.FlagSet, args []string, n int) (int, bool) {
	if code, ok := parse(fs, args); !ok {
		return code, false
	}
	if fs.NArg() > n {
		fs.Usage()
		return 2, false
	}
	return 0, true
}

// fail prints err for people and returns 1.
func fail(env Env, verb string, err error) int {
	fmt.Fprintf(env.Stderr, "airlock %s: %v\n", verb, err)
	return 1
}

func connectCmd(ctx context.Context, verb string, args []string, env Env) int {
	fs, newClient := flags(verb, env)
	fs.Usage = func() { fmt.Fprintf(env.Stderr, "usage: airlock %s [--socket PATH] NAME\n", verb) }
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	name := fs.Arg(0)
	c := newClient()
	call := c.Connect
	if verb == "disconnect" {
		call = c.Disconnect
	}
	cl, err := call(ctx, name)
	if err != nil {
		return fail(env, verb, err)
	}
	line := fmt.Sprintf("%s: %s", cl.Name, cl.State)
	if cl.ProxyURL != "" {
		line += "  proxy-url " + cl.ProxyURL
	}
	if cl.Problem != nil {
		line += fmt.Sprintf("  (%s: %s)", cl.Problem.Code, cl.Problem.Message)
	}
	fmt.Fprintln(env.Stdout, line)
	return 0
}
