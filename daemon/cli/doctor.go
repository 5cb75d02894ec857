package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/internal/desktop"
)

// Verdicts of one doctor check.
const (
	checkOK   = "ok"
	checkWarn = "warn"
	checkFail = "FAIL"
)

// check is one line of `airlock doctor`.
type check struct {
	verdict string
	what    string
	detail  string
	fix     string
}

// ConfigCheck loads and validates the configuration at path ("" means the
// default) and returns the path it read and a one-line summary.
type ConfigCheck func(path string) (resolved, summary string, err error)

// loadConfig is the ConfigCheck `airlock doctor` uses unless Env names
// another: daemon/config, whose path default comes from getenv.
func loadConfig(getenv func(string) string) ConfigCheck {
	return func(path string) (string, string, error) {
		if path == "" {
			p, err := config.DefaultPath(getenv)
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
}

func doctorCmd(ctx context.Context, args []string, env Env) int {
	fs, newClient := flags("doctor", env)
	cfgPath := fs.String("config", "", "configuration file to check (default: the running daemon's, else $XDG_CONFIG_HOME/airlock/config.yaml)")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock doctor [--config FILE] [--socket PATH]")
		fmt.Fprintln(env.Stderr, "Checks the configuration, the daemon, the token store, the tray host, the edges and each cluster's kubeconfig entries, and says what to fix.")
		fs.PrintDefaults()
	}
	if code, ok := parseAtMost(fs, args, 0); !ok {
		return code
	}
	c := newClient()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	st, stErr := c.Status(sctx)
	cancel()
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	check := env.CheckConfig
	if check == nil {
		check = loadConfig(getenv)
	}
	checks := doctor(*cfgPath, st, stErr, c.SocketPath(), check, desktop.ProbeHost(getenv))
	if c, ok := socketBufferCheck(os.ReadFile); ok {
		checks = append(checks, c)
	}
	return printChecks(env.Stdout, checks)
}

// doctor runs every check from what it is given.
func doctor(cfgPath string, st *apitype.Status, stErr error, socket string, checkConfig ConfigCheck, host desktop.HostReport) []check {
	var out []check
	add := func(verdict, what, detail, fix string) {
		out = append(out, check{verdict, what, detail, fix})
	}

	// The configuration.
	if cfgPath == "" && st != nil {
		cfgPath = st.ConfigPath
	}
	if path, summary, err := checkConfig(cfgPath); err != nil {
		fix := "edit the file; a running daemon keeps its last good configuration until the file is valid again"
		if errors.Is(err, os.ErrNotExist) {
			fix = "run `airlock join EDGE` with the edge's host name or the invitation link your operator gave you: it writes the file"
		}
		add(checkFail, "config", strings.ReplaceAll(err.Error(), "\n", "\n    "), fix)
	} else {
		add(checkOK, "config", path+": "+summary, "")
	}
	if st != nil && st.ConfigError != nil {
		add(checkFail, "config reload", strings.ReplaceAll(st.ConfigError.Message, "\n", "\n    "), "the daemon runs the previous configuration until the file is fixed")
	}

	// The daemon.
	switch {
	case stErr == nil:
		add(checkOK, "daemon", fmt.Sprintf("running, pid %d, version %s, socket %s", st.PID, st.Version, socket), "")
	case client.IsNotRunning(stErr):
		add(checkFail, "daemon", "not running (nothing answers on "+socket+")", "start the tray (`airlock`) or `airlock daemon` (systemctl --user enable --now airlock)")
	default:
		add(checkFail, "daemon", stErr.Error(), "")
	}

	// The token store.
	if st != nil && st.TokenStore != nil {
		ts := st.TokenStore
		switch ts.Kind {
		case "keychain":
			add(checkOK, "token store", "the OS keychain", "")
		case "memory":
			detail := ts.Reason
			if ts.Attempts > 0 {
				detail += fmt.Sprintf(" (asked again %d times)", ts.Attempts)
			}
			add(checkWarn, "token store", detail, ts.Fix)
		default:
			detail := "a 0600 file: " + ts.Path
			if ts.Reason != "" {
				detail += " (" + ts.Reason + ")"
			}
			fix := ts.Fix
			if fix == "" {
				fix = "for the OS keychain, run a Secret Service (gnome-keyring, KWallet) in your session"
			}
			add(checkWarn, "token store", detail, fix)
		}
	}

	// The tray host.
	switch {
	case !host.Bus:
		add(checkWarn, "tray host", "no D-Bus session bus: the tray runs headless ("+errString(host.BusErr)+")", "fine on a server; on a desktop, log in to a graphical session")
	case !host.Watcher:
		add(checkWarn, "tray host", "no StatusNotifierWatcher: the tray icon cannot be shown", "on GNOME install the AppIndicator extension (gnome-shell-extension-appindicator); on other desktops add a system tray / status notifier to the panel")
	default:
		add(checkOK, "tray host", "session bus and StatusNotifierWatcher present", "")
	}
	if host.Bus && !host.Notifier {
		add(checkWarn, "notifications", "no notification server (org.freedesktop.Notifications)", "install one (e.g. dunst, xfce4-notifyd) to see sign-in and refusal notices")
	}

	if st == nil {
		return out
	}
	// The edges.
	for _, e := range st.Edges {
		where, current := e.Address, e.Address
		if len(e.Addresses) > 1 {
			where = "every address of the fleet (" + strings.Join(e.Addresses, ", ") + ")"
		}
		if e.Current != "" {
			current = e.Current
		}
		switch {
		case e.Connected:
			add(checkOK, "edge "+e.Name, "connected to "+current+" since "+e.Since.Local().Format(time.TimeOnly)+transportText(e), "")
			if e.Transport == "TCP" && strings.HasPrefix(e.TransportReason, "UDP ") { // not when the configuration chose TCP
				add(checkWarn, "transport "+e.Name, "TCP: "+e.TransportReason,
					"allow UDP to the edge's port (QUIC carries streams across a change of network and keeps up better under loss); the daemon tries QUIC again on its own")
			}
		case e.Error != "":
			add(checkFail, "edge "+e.Name, where+" unreachable: "+e.Error, "check the address and that UDP to it is allowed (QUIC); the daemon keeps retrying")
		default:
			add(checkOK, "edge "+e.Name, where+": not dialled yet (no cluster has used it)", "")
		}
		if si := e.SignIn; si != nil {
			if ch := si.IdentityChanged; ch != nil {
				add(checkWarn, "sign-in "+e.Name, fmt.Sprintf("signed in as %s at %s, but %s was signed in before", ch.To, ch.Time.Local().Format(time.TimeOnly), ch.From),
					"if you did not switch accounts yourself, someone else's sign-in may have reached this daemon: run `airlock logout`, then `airlock login`")
			}
			switch si.State {
			case apitype.SignInSignedIn:
				add(checkOK, "sign-in "+e.Name, "signed in as "+si.Email, "")
			case apitype.SignInNeeded:
				add(checkWarn, "sign-in "+e.Name, "waiting for you to sign in at "+si.URL, "finish signing in in the browser, or run `airlock login`")
			default:
				detail, fix := "signed out", "run `airlock login` (or the first kubectl starts a sign-in)"
				if si.Problem != nil {
					detail += ": " + si.Problem.Message
					fix = signInFix(si.Problem.Code, fix)
				}
				add(checkWarn, "sign-in "+e.Name, detail, fix)
			}
		}
	}
	// The joined edges' catalogues.
	for _, c := range st.Catalogues {
		what := "catalogue " + c.Edge
		switch {
		case c.Problem != nil && c.Problem.Code == apitype.CatalogueSignIn:
			add(checkWarn, what, c.Problem.Message, "run `airlock login`, then `airlock sync`")
		case c.Problem != nil:
			add(checkFail, what, c.Problem.Code+": "+c.Problem.Message, "the cached catalogue stays in use; run `airlock sync` to retry")
		case c.Synced.IsZero():
			add(checkWarn, what, "never synced", "run `airlock sync`")
		default:
			add(checkOK, what, fmt.Sprintf("%d app(s), synced %s", len(c.Apps), c.Synced.Local().Format(time.DateTime)), "")
		}
		for _, k := range c.Kept {
			add(checkWarn, what, "kubeconfig entry changed by you, left as it is: "+k, "fine if you meant it; to get Airlock's back, delete the entry and run `airlock sync`")
		}
	}
	// Kubeconfig files that were readable by other users.
	for _, m := range st.KubeconfigTightened {
		add(checkWarn, "kubeconfig mode", tightenedLine(m),
			"keep it private (chmod 600 "+m.File+"); the daemon tightens it again whenever it finds it readable")
	}
	// The clusters and their kubeconfig entries.
	for _, cl := range st.Clusters {
		what := "cluster " + cl.Name
		switch cl.State {
		case apitype.StateError:
			detail, fix := "error", ""
			if cl.Problem != nil {
				detail = cl.Problem.Code + ": " + cl.Problem.Message
				fix = clusterFix(cl.Problem.Code)
			}
			add(checkFail, what, detail, fix)
		default:
			detail := string(cl.State)
			if cl.ProxyURL != "" {
				detail += " on " + cl.Listen
			}
			add(checkOK, what, detail, "")
		}
		k := cl.Kubeconfig
		if k == nil {
			add(checkOK, "kubeconfig "+cl.Name, "no kubeconfig entries mapped (the daemon leaves kubeconfig alone; use the proxy-url from `airlock status`)", "")
			continue
		}
		if k.Problem != nil {
			add(checkFail, "kubeconfig "+cl.Name, k.Problem.Code+": "+k.Problem.Message, "")
		}
		if len(k.Missing) > 0 {
			add(checkFail, "kubeconfig "+cl.Name, "mapped but not found in any kubeconfig file: "+strings.Join(k.Missing, ", "),
				"fix the names under kubeconfig: in the config, or add the entries (e.g. aws eks update-kubeconfig); files followed: "+strings.Join(st.KubeconfigFiles, ", "))
		}
		if len(k.Applied) > 0 {
			var es []string
			for _, e := range k.Applied {
				es = append(es, e.Cluster+" in "+e.File)
			}
			add(checkOK, "kubeconfig "+cl.Name, "proxy-url set on "+strings.Join(es, ", "), "")
		} else if k.Problem == nil && len(k.Missing) == 0 && cl.ProxyURL != "" {
			add(checkWarn, "kubeconfig "+cl.Name, "no entry carries the proxy-url yet", "")
		}
	}
	return out
}

// signInFix is what to do about an edge's sign-in problem (def when the
// problem has no better advice).
func signInFix(code, def string) string {
	switch code {
	case apitype.SignInNobody:
		return "run `airlock login`: no browser, tray or waiting `airlock login` could show you the sign-in, so kubectl was refused at once"
	case apitype.SignInUnavailable:
		return "the edge's identity provider failed on its side: run `airlock login` again in a moment; if it persists, tell the edge's operator"
	case apitype.SignInUnreachable:
		return "check the edge's auth_url and your network, then run `airlock login`"
	case apitype.SignInRefused:
		return "ask your administrator for access to the app, or `airlock login` as someone who has it"
	}
	return def
}

func clusterFix(code string) string {
	switch code {
	case "sign_in_needed", "sign_in_timeout":
		return "run `airlock login`"
	case "sign_in_unavailable":
		return "the edge's identity provider failed on its side: try again in a moment"
	case "sign_in_unreachable":
		return "check the edge's auth_url and your network"
	case "unauthenticated", "token_unavailable":
		return "sign in: `airlock login` (or check the cluster's token / token_file)"
	case "forbidden":
		return "ask your administrator for access to the app"
	case "edge_unreachable":
		return "check the edge's address and that UDP to it is allowed"
	case "no_connector":
		return "the cluster's connector is not running: tell the cluster's operator"
	case "listen_failed":
		return "another program holds the listen address: change listen: in the config"
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "unknown"
	}
	return err.Error()
}

// printChecks prints the checks and returns the exit code: 1 when any
// failed.
func printChecks(w io.Writer, checks []check) int {
	width := 0
	for _, c := range checks {
		width = max(width, len(c.what))
	}
	fails, warns := 0, 0
	for _, c := range checks {
		fmt.Fprintf(w, "%-4s  %-*s  %s\n", c.verdict, width, c.what, c.detail)
		if c.fix != "" && c.verdict != checkOK {
			fmt.Fprintf(w, "      %-*s  fix: %s\n", width, "", c.fix)
		}
		switch c.verdict {
		case checkFail:
			fails++
		case checkWarn:
			warns++
		}
	}
	switch {
	case fails > 0:
		fmt.Fprintf(w, "\n%d problem(s), %d warning(s)\n", fails, warns)
		return 1
	case warns > 0:
		fmt.Fprintf(w, "\nno problems, %d warning(s)\n", warns)
	default:
		fmt.Fprintln(w, "\nall good")
	}
	return 0
}
