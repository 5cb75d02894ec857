package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
)

// execCredential is kubectl's client.authentication.k8s.io/v1
// ExecCredential: what an exec credential plugin prints on stdout.
type execCredential struct {
	APIVersion string               `json:"apiVersion"`
	Kind       string               `json:"kind"`
	Status     execCredentialStatus `json:"status"`
}

type execCredentialStatus struct {
	Token               string `json:"token"`
	ExpirationTimestamp string `json:"expirationTimestamp"`
}

// credentialCmd is kubectl's exec credential plugin: it prints the
// ExecCredential of a cluster that trusts the edge as its OIDC issuer,
// the token from the daemon (which signs in when needed). Errors go to
// stderr with their cause; on a terminal it says where to sign in.
func credentialCmd(ctx context.Context, args []string, env Env) int {
	fs, newClient := flags("credential", env)
	name := fs.String("cluster", "", "the cluster (its name in the daemon's config)")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock credential --cluster NAME [--socket PATH]")
		fmt.Fprintln(env.Stderr, "prints a client.authentication.k8s.io/v1 ExecCredential for kubectl's exec plugin")
	}
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *name == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	c := newClient()
	if isTerminal(env.Stderr) {
		stop := tellSignIn(ctx, c, *name, env.Stderr)
		defer stop()
	}
	cred, err := c.ClusterCredential(ctx, *name)
	if err != nil {
		return fail(env, "credential", err)
	}
	out, err := json.Marshal(execCredential{
		APIVersion: "client.authentication.k8s.io/v1", Kind: "ExecCredential",
		Status: execCredentialStatus{Token: cred.Token, ExpirationTimestamp: cred.Expires.UTC().Format(time.RFC3339)},
	})
	if err != nil {
		return fail(env, "credential", err)
	}
	fmt.Fprintf(env.Stdout, "%s\n", out)
	return 0
}

// tellSignIn follows the daemon's events while the credential waits and
// prints where to sign in whenever the cluster's edge needs a sign-in. It
// returns once it follows them (or could not), so that the daemon knows
// someone can be shown a sign-in before the credential asks for one. The
// returned stop ends it and waits for it.
func tellSignIn(ctx context.Context, c *client.Client, cluster string, w io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done, watching := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		watch, err := c.Watch(ctx)
		close(watching)
		if err != nil {
			return // the credential's own call says what is wrong
		}
		defer watch.Close()
		stopClose := context.AfterFunc(ctx, func() { watch.Close() })
		defer stopClose()
		edge, said := "", ""
		for {
			ev, err := watch.Next()
			if err != nil {
				return
			}
			var si *apitype.SignIn
			switch {
			case ev.Type == apitype.EventStatus && ev.Status != nil:
				if cl := ev.Status.FindCluster(cluster); cl != nil {
					edge = cl.Edge
				}
				if e := ev.Status.FindEdge(edge); e != nil {
					si = e.SignIn
				}
			case ev.Type == apitype.EventSignIn:
				si = ev.SignIn
			}
			if si != nil && edge != "" && si.Edge == edge && si.State == apitype.SignInNeeded && si.URL+si.UserCode != said {
				said = si.URL + si.UserCode
				fmt.Fprintf(w, "airlock: cluster %s: %s\n", cluster, signInLine(si))
			}
		}
	}()
	<-watching
	return func() { cancel(); <-done }
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
