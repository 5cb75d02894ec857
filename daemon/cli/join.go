package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/catalogue"
	"github.com/airlockhq/airlock/daemon/client"
)

// joinTimeout bounds `airlock join`: the sign-in in the browser is most of it.
const joinTimeout = 15 * time.Minute

func joinCmd(ctx context.Context, args []string, env Env) int {
	fs, newClient := flags("join", env)
	ca := fs.String("ca", "", "the edge CA's fingerprint, sha256:HEX (from the invitation), for an edge with a private CA")
	device := fs.Bool("device", false, "sign in with a URL and a code, on any device (no browser here)")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock join [--ca sha256:HEX] [--device] [--socket PATH] EDGE")
		fmt.Fprintln(env.Stderr, "EDGE is the edge's host name, its https:// URL, or an airlock://join?… invitation link.")
		fmt.Fprintln(env.Stderr, "Signs you in, then writes the daemon's configuration and a kubeconfig context for every cluster you may use.")
		fs.PrintDefaults()
	}
	if code, ok := parse(fs, reorder(args)); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if _, err := catalogue.ParseInvite(fs.Arg(0), *ca); err != nil {
		return fail(env, "join", err)
	}
	c := newClient()
	if _, err := c.Status(ctx); client.IsNotRunning(err) {
		// A fresh machine whose session runs no daemon yet: start one.
		getenv := env.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		logPath, err := startDaemon(ctx, c, getenv)
		if err != nil {
			return fail(env, "join", fmt.Errorf("no daemon was running and starting one failed: %w\nstart it with `systemctl --user enable --now airlock`, or run `airlock` (the tray starts it)", err))
		}
		fmt.Fprintf(env.Stdout, "Started the Airlock daemon (log: %s); to start it with your session: systemctl --user enable airlock\n", logPath)
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	fmt.Fprintf(env.Stdout, "Joining %s …\n", fs.Arg(0))
	stop := showSignIn(ctx, c, env.Stdout)
	res, err := c.Join(ctx, apitype.JoinRequest{Invite: fs.Arg(0), CA: *ca, Device: *device})
	stop()
	if err != nil {
		return fail(env, "join", err)
	}
	if res.AlreadyJoined {
		fmt.Fprintf(env.Stdout, "Already joined %s; synced its catalogue.\n", res.Edge)
	} else {
		fmt.Fprintf(env.Stdout, "Joined %s.\n", res.Edge)
	}
	printCatalogue(env.Stdout, res.Catalogue)
	return 0
}

// reorder puts flags before the positional argument, so that `airlock
// join EDGE --ca …` works as well.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "-") && !strings.Contains(a, "=") && (a == "--ca" || a == "-ca" || a == "--socket" || a == "-socket") && i+1 < len(args):
			flags = append(flags, a, args[i+1])
			i++
		case strings.HasPrefix(a, "-"):
			flags = append(flags, a)
		default:
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}

// showSignIn prints the sign-in URL (and code) while the daemon waits for
// the person, until stop.
func showSignIn(ctx context.Context, c *client.Client, w io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		wt, err := c.Watch(ctx)
		if err != nil {
			return
		}
		defer wt.Close()
		context.AfterFunc(ctx, func() { wt.Close() })
		shown := map[string]bool{}
		for {
			ev, err := wt.Next()
			if err != nil {
				return
			}
			if ev.Type != apitype.EventSignIn || ev.SignIn == nil {
				continue
			}
			si := ev.SignIn
			if si.State == apitype.SignInNeeded && si.URL != "" && !shown[si.URL] {
				shown[si.URL] = true
				if si.UserCode != "" {
					fmt.Fprintf(w, "Sign in at %s with the code %s\n", si.URL, si.UserCode)
				} else {
					fmt.Fprintf(w, "Sign in in your browser (if it did not open: %s)\n", si.URL)
				}
			}
			if si.State == apitype.SignInSignedIn {
				fmt.Fprintf(w, "Signed in as %s.\n", si.Email)
			}
		}
	}()
	return func() { cancel(); <-done }
}

// printCatalogue says what a join or sync gave the person.
func printCatalogue(w io.Writer, c apitype.Catalogue) {
	fmt.Fprintf(w, "%s: %d app(s) you may use\n", c.Edge, len(c.Apps))
	for _, a := range c.Apps {
		line := "  " + a.Name
		if a.DisplayName != "" && a.DisplayName != a.Name {
			line += " (" + a.DisplayName + ")"
		}
		line += "  " + a.Hostname
		switch {
		case a.Context != "" && a.Identity:
			line += "  kubectl --context " + a.Context + "  (as you)"
		case a.Context != "":
			line += "  kubectl --context " + a.Context + "  (add your credentials to user " + a.Context + ")"
		case a.MappedOnto != "":
			line += "  through your kubeconfig cluster " + a.MappedOnto
		}
		if !a.Enabled {
			line += "  [off]"
		}
		fmt.Fprintln(w, line)
	}
	if len(c.Added) > 0 {
		fmt.Fprintf(w, "kubeconfig contexts added to %s: %s\n", c.KubeconfigFile, strings.Join(c.Added, ", "))
	}
	if len(c.Removed) > 0 {
		fmt.Fprintf(w, "kubeconfig contexts removed (no longer allowed): %s\n", strings.Join(c.Removed, ", "))
	}
	if c.CurrentContext != "" {
		fmt.Fprintf(w, "current-context is now %s (your kubeconfig had none)\n", c.CurrentContext)
	}
	for _, k := range c.Kept {
		fmt.Fprintf(w, "kept as you changed it: %s\n", k)
	}
	if c.Problem != nil {
		fmt.Fprintf(w, "problem: %s: %s\n", c.Problem.Code, c.Problem.Message)
	}
}

func syncCmd(ctx context.Context, args []string, env Env) int {
	fs, newClient := flags("sync", env)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock sync [--socket PATH] [EDGE]")
		fmt.Fprintln(env.Stderr, "Fetches the catalogue of the joined edge(s) now: kubeconfig contexts for apps you gained are added, those of apps you lost removed.")
		fs.PrintDefaults()
	}
	if code, ok := parseAtMost(fs, args, 1); !ok {
		return code
	}
	c := newClient()
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	stop := showSignIn(ctx, c, env.Stdout) // signed out: sync signs in first
	res, err := c.Sync(ctx, apitype.SyncRequest{Edge: fs.Arg(0)})
	stop()
	if err != nil {
		return fail(env, "sync", err)
	}
	for _, cat := range res.Catalogues {
		printCatalogue(env.Stdout, cat)
	}
	return 0
}

func leaveCmd(ctx context.Context, args []string, env Env) int {
	fs, newClient := flags("leave", env)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock leave [--socket PATH] [EDGE]")
		fmt.Fprintln(env.Stderr, "Leaves a joined edge: signs out, removes its kubeconfig entries and its lines in the configuration.")
		fs.PrintDefaults()
	}
	if code, ok := parseAtMost(fs, args, 1); !ok {
		return code
	}
	c := newClient()
	res, err := c.Leave(ctx, apitype.LeaveRequest{Edge: fs.Arg(0)})
	if err != nil {
		return fail(env, "leave", err)
	}
	fmt.Fprintf(env.Stdout, "Left %s", res.Edge)
	if res.SignedOut {
		fmt.Fprint(env.Stdout, " and signed out")
	}
	fmt.Fprintln(env.Stdout, ".")
	if len(res.Removed) > 0 {
		fmt.Fprintf(env.Stdout, "kubeconfig contexts removed: %s\n", strings.Join(res.Removed, ", "))
	}
	for _, k := range res.Kept {
		fmt.Fprintf(env.Stdout, "kept as you changed it: %s (remove it yourself if you no longer want it)\n", k)
	}
	return 0
}
