package demo

import (
	"context"
	"fmt"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"os"
	"path/filepath"
	"strings"
)

// printSetup says what runs where.
func (d *demo) printSetup(why string) {
	s := d.s
	var b strings.Builder
	b.WriteString("\n")
	if s.KubeAPI != nil {
		fmt.Fprintf(&b, "  kube-apiserver  %s (a real one, on loopback)\n", s.KubeAPI.URL)
	}
	fmt.Fprintf(&b, "  edge            %s (QUIC, UDP)   metrics %s/metrics\n", s.EdgeAddr, s.EdgeAdmin)
	if !d.cfg.Token {
		fmt.Fprintf(&b, "                  sign-in pages %s (built-in user list)\n", s.AuthURL)
	}
	fmt.Fprintf(&b, "  connector       app %s → %s   ready %s/ready\n", s.App, s.Origin, s.ConnAdmin)
	if d.join {
		fmt.Fprintf(&b, "  daemon          fresh: no config yet (HOME=%s, socket %s)\n", d.home, s.Socket)
	} else {
		fmt.Fprintf(&b, "  daemon          cluster %q → app %s\n", stack.DefaultCluster, s.App)
		fmt.Fprintf(&b, "  proxy-url       %s\n", s.ProxyURL())
	}
	if s.Kubeconfig != "" && !d.join {
		fmt.Fprintf(&b, "  kubeconfig      %s (server %s; the daemon wrote its proxy-url)\n", s.Kubeconfig, stack.KubeServer)
	}
	if d.cfg.Token {
		fmt.Fprintf(&b, "  sign-in         none: the daemon presents a service token (-token)\n")
	} else {
		how := string(d.browser)
		if why != "" {
			how += " — " + why
		}
		fmt.Fprintf(&b, "  browser         %s\n", how)
	}
	d.pr.block(b.String())
}

// printUser shows the built-in user.
func (d *demo) printUser() {
	d.pr.f(`
The edge's built-in user list has one user (its bcrypt hash is in %s):

    email     %s
    password  %s`, filepath.Join(d.s.EdgeDir, "config.yaml"), d.cfg.Email, d.cfg.Password)
}

// printTokens says where the daemon keeps the refresh token.
func (d *demo) printTokens(ctx context.Context) {
	st, err := d.s.Client().Status(ctx)
	if err != nil || st.TokenStore == nil {
		return
	}
	ts := st.TokenStore
	switch ts.Kind {
	case "keychain":
		d.pr.f("\nThe refresh token is in your OS keychain (service \"airlock\"); the access token\nlives only in the daemon's memory.")
	default:
		d.pr.f("\nThe refresh token is in a 0600 file, as no OS keychain answered here:\n    %s\nThe access token lives only in the daemon's memory.", ts.Path)
	}
}

// printTry says what to try in another terminal, and writes the env file
// it names.
func (d *demo) printTry() {
	s := d.s
	envFile := filepath.Join(s.Dir, "env")
	runtime := filepath.Dir(filepath.Dir(s.Socket))
	airlock := filepath.Join(s.Bin, "airlock")
	var env strings.Builder
	env.WriteString("# . this file to use the Airlock demo from another shell\n")
	if s.Kubeconfig != "" {
		fmt.Fprintf(&env, "export KUBECONFIG=%s\n", shellQuote(s.Kubeconfig))
	}
	if d.join {
		fmt.Fprintf(&env, "airlock() { v=$1; shift; %s \"$v\" --socket %s \"$@\"; }\n", shellQuote(airlock), shellQuote(s.Socket))
	} else {
		fmt.Fprintf(&env, "airlock() { XDG_RUNTIME_DIR=%s %s \"$@\"; }\n", shellQuote(runtime), shellQuote(airlock))
	}
	if err := os.WriteFile(envFile, []byte(env.String()), 0o600); err != nil {
		d.pr.f("(could not write %s: %v)", envFile, err)
	}

	if s.Kubeconfig == "" {
		d.pr.f(`
Point your own kubeconfig's cluster at Airlock by adding, under its cluster entry:

    proxy-url: %s

then run kubectl as usual, with your own credentials for that cluster: it does not
trust this demo edge as an OIDC issuer, so the demo does no airlock join and kubectl
gets no identity from Airlock (the edge still signs you in for the connection).`, s.ProxyURL())
		if !d.cfg.Token {
			d.pr.f("Its first connection starts the sign-in; this terminal shows each step.")
		}
		d.pr.f(`
In another terminal, '. %s' gives you an 'airlock' command for this demo's
daemon: airlock status, airlock logout.`, envFile)
		return
	}
	lines := [][2]string{
		{". " + shellQuote(envFile), "sets KUBECONFIG, and 'airlock' for this demo's daemon"},
		{"kubectl get namespaces", ""},
		{"kubectl create configmap hello --from-literal=from=airlock", ""},
		{"kubectl get configmaps -w", ""},
		{"airlock status", ""},
	}
	if d.join {
		lines = [][2]string{
			{". " + shellQuote(envFile), "sets KUBECONFIG, and 'airlock' for this demo's daemon"},
			{"kubectl get namespaces", "current-context is " + joinContext + " (join set it: there was none)"},
			{"kubectl auth whoami", "you, as the API server sees you"},
			{"kubectl create configmap hello --from-literal=from=airlock", "allowed: your group is bound to edit"},
			{"kubectl delete namespace default", "refused: 403 from the API server, not Airlock"},
			{"airlock status", ""},
			{"airlock sync", "fetch the apps you may use again"},
			{"airlock logout", "sign out; the next kubectl signs in again"},
			{"airlock leave", "sign out, remove what join wrote"},
		}
	}
	if !d.cfg.Token && !d.join {
		lines = append(lines,
			[2]string{"airlock logout", "sign out: the edge revokes the sign-in, the tokens are deleted"},
			[2]string{"kubectl get namespaces", "signs in again: this terminal shows each step"})
	}
	var b strings.Builder
	if d.join {
		fmt.Fprintf(&b, `
airlock join wrote
    %s
    %s
The context %s names %s, which resolves nowhere
on this machine: kubectl reaches the API server only through Airlock.
Try, in another terminal:

`, s.DaemonConfig, s.Kubeconfig, joinContext, stack.KubeServer)
		b.WriteString(commandList(lines))
		fmt.Fprintf(&b, "\nEach connection leaves one JSON audit line in the edge's log (%s).\n", d.logPath)
		d.pr.block(b.String())
		return
	}
	fmt.Fprintf(&b, `
The kubeconfig names %s, which resolves nowhere on this machine:
kubectl reaches the API server only through Airlock. Try, in another terminal:

`, stack.KubeServer)
	b.WriteString(commandList(lines))
	fmt.Fprintf(&b, "\nEach connection leaves one JSON audit line in the edge's log (%s).\n", d.logPath)
	d.pr.block(b.String())
}

// commandList indents commands and aligns their comments.
func commandList(lines [][2]string) string {
	width := 0
	for _, l := range lines {
		if l[1] != "" {
			width = max(width, len(l[0]))
		}
	}
	var b strings.Builder
	for _, l := range lines {
		if l[1] == "" {
			fmt.Fprintf(&b, "    %s\n", l[0])
			continue
		}
		fmt.Fprintf(&b, "    %-*s   # %s\n", width, l[0], l[1])
	}
	return b.String()
}

// shellQuote quotes s for sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
