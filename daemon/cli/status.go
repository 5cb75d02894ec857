package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
)

func statusCmd(ctx context.Context, args []string, env Env) int {
	fs, newClient := flags("status", env)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	watch := fs.Bool("watch", false, "print each state change as it happens, until interrupted")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock status [--json] [--watch] [--socket PATH]")
		fs.PrintDefaults()
	}
	if code, ok := parseAtMost(fs, args, 0); !ok {
		return code
	}
	c := newClient()
	if *watch {
		return watchCmd(ctx, func(ctx context.Context) (watcher, error) { return c.Watch(ctx) }, *asJSON, env)
	}
	st, err := c.Status(ctx)
	if err != nil {
		return fail(env, "status", err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return fail(env, "status", err)
		}
		return 0
	}
	PrintStatus(env.Stdout, st)
	return 0
}

// PrintStatus writes st for people: an aligned table of clusters with
// their full proxy-url, each problem, which kubeconfig entries carry the
// proxy-url (or why they do not), and a table of edges.
func PrintStatus(w io.Writer, st *apitype.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tSTATE\tLISTEN\tPROXY-URL")
	for _, cl := range st.Clusters {
		proxy := cl.ProxyURL
		if proxy == "" {
			proxy = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cl.Name, cl.State, cl.Listen, proxy)
	}
	tw.Flush()
	for _, cl := range st.Clusters {
		if cl.Problem != nil {
			fmt.Fprintf(w, "  %s: %s: %s\n", cl.Name, cl.Problem.Code, cl.Problem.Message)
		}
		if via := viaLine(st, cl); via != "" {
			fmt.Fprintf(w, "  %s: %s\n", cl.Name, via)
		}
		applied, problem := kubeconfigLines(cl.Kubeconfig)
		if applied != "" {
			fmt.Fprintf(w, "  %s: kubeconfig: %s\n", cl.Name, applied)
		}
		if problem != "" {
			fmt.Fprintf(w, "  %s: kubeconfig problem: %s\n", cl.Name, problem)
		}
	}
	if len(st.KubeconfigFiles) > 0 {
		fmt.Fprintf(w, "kubeconfig files: %s\n", strings.Join(st.KubeconfigFiles, ", "))
	}
	for _, m := range st.KubeconfigTightened {
		fmt.Fprintf(w, "%s\n", tightenedLine(m))
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EDGE\tADDRESS\tSTATE")
	for _, e := range st.Edges {
		state := "idle"
		switch {
		case e.Connected:
			state = "connected since " + e.Since.Local().Format(time.TimeOnly) + transportText(e)
		case e.Error != "":
			state = "unreachable: " + e.Error
		}
		addr := e.Address
		if e.Current != "" {
			addr = e.Current
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, addr, state)
	}
	tw.Flush()
	for _, e := range st.Edges {
		if len(e.Addresses) > 1 {
			fmt.Fprintf(w, "  %s: a fleet of %d addresses: %s\n", e.Name, len(e.Addresses), strings.Join(e.Addresses, ", "))
		}
	}
	for _, e := range st.Edges {
		if e.SignIn != nil {
			fmt.Fprintf(w, "  %s: %s\n", e.Name, signInLine(e.SignIn))
		}
	}
	if ts := st.TokenStore; ts != nil {
		switch ts.Kind {
		case "file":
			fmt.Fprintf(w, "tokens are kept in %s (%s)\n", ts.Path, ts.Reason)
		case "memory":
			fmt.Fprintf(w, "token store: %s\n", ts.Reason)
		}
	}
	if st.NotJoined {
		fmt.Fprintf(w, "\nnot joined yet: run `airlock join EDGE` (the edge's host name or the invitation link)\n")
	}
	for _, c := range st.Catalogues {
		synced := "never synced"
		if !c.Synced.IsZero() {
			synced = "synced " + c.Synced.Local().Format(time.DateTime)
		}
		fmt.Fprintf(w, "\ncatalogue of %s (%s):\n", c.Edge, synced)
		printCatalogue(w, c)
	}
	if ce := st.ConfigError; ce != nil {
		fmt.Fprintf(w, "\nthe configuration file %s does not load (the daemon runs the previous one until it does):\n  %s\n",
			ce.Path, strings.ReplaceAll(ce.Message, "\n", "\n  "))
	}
}

// viaLine says which edge address carries a cluster now, where that is
// news: its edge is a fleet, or a name that resolved to this address.
func viaLine(st *apitype.Status, cl apitype.Cluster) string {
	if cl.EdgeAddress == "" {
		return ""
	}
	for _, e := range st.Edges {
		if e.Name == cl.Edge && len(e.Addresses) <= 1 && e.Address == cl.EdgeAddress {
			return ""
		}
	}
	return "via edge " + cl.Edge + " at " + cl.EdgeAddress
}

func watchCmd(ctx context.Context, open func(context.Context) (watcher, error), asJSON bool, env Env) int {
	w, err := open(ctx)
	if err != nil {
		return fail(env, "status", err)
	}
	defer w.Close()
	stop := context.AfterFunc(ctx, func() { w.Close() })
	defer stop()
	enc := json.NewEncoder(env.Stdout)
	for {
		ev, err := w.Next()
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			if errors.Is(err, io.EOF) {
				fmt.Fprintln(env.Stderr, "airlock status: the daemon stopped")
				return 1
			}
			return fail(env, "status", err)
		}
		if asJSON {
			enc.Encode(ev)
			continue
		}
		switch ev.Type {
		case apitype.EventStatus:
			PrintStatus(env.Stdout, ev.Status)
			fmt.Fprintln(env.Stdout)
		case apitype.EventSignIn:
			if ev.SignIn == nil {
				continue
			}
			fmt.Fprintf(env.Stdout, "%s  edge %s  %s\n", ev.Time.Local().Format(time.TimeOnly), ev.SignIn.Edge, signInLine(ev.SignIn))
		case apitype.EventCluster:
			cl := ev.Cluster
			line := fmt.Sprintf("%s  %s  %s", ev.Time.Local().Format(time.TimeOnly), cl.Name, cl.State)
			if cl.ProxyURL != "" {
				line += "  " + cl.ProxyURL
			}
			if cl.Problem != nil {
				line += fmt.Sprintf("  (%s: %s)", cl.Problem.Code, cl.Problem.Message)
			}
			if applied, problem := kubeconfigLines(cl.Kubeconfig); applied != "" {
				line += "  kubeconfig: " + applied
			} else if problem != "" {
				line += "  kubeconfig problem: " + problem
			}
			fmt.Fprintln(env.Stdout, line)
		}
	}
}

// kubeconfigLines says which kubeconfig entries carry a cluster's
// proxy-url ("proxy-url on \"prod\" in /home/me/.kube/config") and why
// the kubeconfig is not fully in line ("locked: …"); "" for either when
// there is nothing to say.
func kubeconfigLines(k *apitype.Kubeconfig) (applied, problem string) {
	if k == nil {
		return "", ""
	}
	var files []string
	byFile := map[string][]string{}
	for _, e := range k.Applied {
		if _, ok := byFile[e.File]; !ok {
			files = append(files, e.File)
		}
		byFile[e.File] = append(byFile[e.File], strconv.Quote(e.Cluster))
	}
	var parts []string
	for _, f := range files {
		parts = append(parts, strings.Join(byFile[f], ", ")+" in "+f)
	}
	if len(parts) > 0 {
		applied = "proxy-url on " + strings.Join(parts, "; ")
	}
	if k.Problem != nil {
		problem = k.Problem.Code + ": " + k.Problem.Message
	}
	return applied, problem
}

// tightenedLine says that the daemon made a kubeconfig file private.
func tightenedLine(m apitype.KubeconfigMode) string {
	return fmt.Sprintf("kubeconfig %s was readable by other users (mode %s): made %s at %s, as it holds the proxy password",
		m.File, m.From, m.To, m.Time.Local().Format(time.TimeOnly))
}

// watcher is what client.Watcher offers.
type watcher interface {
	Next() (apitype.Event, error)
	Close() error
}

// transportText says an edge link's transport after its state: " over
// QUIC", " over TCP (why)", or nothing when the daemon did not say.
func transportText(e apitype.Edge) string {
	switch {
	case e.Transport == "":
		return ""
	case e.TransportReason != "":
		return " over " + e.Transport + " (" + e.TransportReason + ")"
	}
	return " over " + e.Transport
}
