package demo

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
)

// The demo's join: the edge publishes its app's Kubernetes details, the
// kube-apiserver trusts the edge as its JWT issuer, and the person's side
// is a fresh home where `airlock join` writes everything.
const (
	// joinApp is the app's short name: the context join adds is
	// stack.EdgeName + "-" + joinApp.
	joinApp = "demo"
	// joinAudience is the audience of the tokens kubectl presents.
	joinAudience = "kubernetes:demo"
	// joinGroup is the demo user's group at the edge; the API server sees
	// it as "airlock:" + joinGroup and binds it to the edit role.
	joinGroup = "developers"
)

// joinContext is the kubectl context `airlock join` adds.
const joinContext = stack.EdgeName + "-" + joinApp

// joinBinding binds the demo user's group to the aggregated parts of the
// edit role (view's reads plus writes of namespaced objects, no RBAC, no
// namespaces): the demo's kube-apiserver runs no controller-manager, which
// is what fills view and edit themselves from these.
func joinBinding() string {
	return kapitest.GroupBinding("airlock-developers-view", "system:aggregate-to-view", "airlock:"+joinGroup) +
		"---\n" + kapitest.GroupBinding("airlock-developers-edit", "system:aggregate-to-edit", "airlock:"+joinGroup)
}

// setUpJoin is the operator's side: publish the app's Kubernetes details,
// install `airlock-edge app kube-auth` in the kube-apiserver, bind the
// group, and return the invitation link `airlock-edge invite` prints.
func (d *demo) setUpJoin(ctx context.Context) (string, error) {
	s := d.s
	if _, err := edge.UpdateConfig(filepath.Join(s.EdgeDir, "config.yaml"), func(c *edge.Config) error {
		c.PublicURL = s.AuthURL // the kube-apiserver fetches the issuer's keys there
		c.FleetName = stack.EdgeName
		for i := range c.Apps {
			if a := &c.Apps[i]; a.Hostname == s.App {
				a.Name, a.DisplayName = joinApp, "Demo cluster"
				a.Kubernetes = &edge.AppKubernetes{Server: stack.KubeServer, CAData: string(s.KubeAPI.CAPEM),
					OIDC: &edge.KubeOIDC{Audience: joinAudience}}
			}
		}
		return nil
	}); err != nil {
		return "", fmt.Errorf("publish the app's kubernetes details: %w", err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := s.WaitEdgeServes(wait, "/.well-known/airlock-configuration", func(b []byte) error {
		if !bytes.Contains(b, []byte(`"fleet":"`+stack.EdgeName+`"`)) {
			return fmt.Errorf("the edge's metadata names no fleet %q yet", stack.EdgeName)
		}
		return nil
	}); err != nil {
		return "", fmt.Errorf("the edge did not reload its config: %w", err)
	}
	if err := s.TrustEdgeAsIssuer(wait); err != nil {
		return "", fmt.Errorf("the kube-apiserver did not load the edge as its issuer: %w", err)
	}
	if err := s.KubeAPI.Apply(ctx, d.cfg.Kubectl, joinBinding()); err != nil {
		return "", fmt.Errorf("apply the group's binding: %w", err)
	}
	return s.Invite(ctx)
}

// runJoin is the person's side: a fresh daemon, `airlock join LINK` with
// the signer playing the browser, then kubectl as the person.
func (d *demo) runJoin(ctx context.Context, link string) error {
	ctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	defer func() {
		cancel()
		g.Wait() //nolint:errcheck // the signer's error is reported below
	}()
	sg := newSigner(d.s, d.browser, d.cfg.Email, d.cfg.Password, d.cfg.Chromium, d.pr)
	ready := make(chan error, 1)
	signerDone := make(chan error, 1)
	g.Go(func() error {
		err := sg.run(ctx, ready)
		signerDone <- err
		return err
	})
	if err := <-ready; err != nil {
		return err
	}
	d.printUser()
	d.pr.f(`
The operator's side is done: the edge publishes the app's API server, CA and
OIDC audience; the kube-apiserver trusts the edge as its JWT issuer (the
configuration 'airlock-edge app kube-auth %s' prints); the group
airlock:%s is bound to the edit role. The invitation (airlock-edge invite):

    %s

Your side is a fresh home (%s): no Airlock config, no kubeconfig.`, d.s.App, joinGroup, link, d.home)
	args := []string{"join"}
	if d.browser == BrowserNone {
		args = append(args, "--device")
	}
	d.pr.f("\n$ airlock %s %s", strings.Join(args, " "), shellQuote(link))
	sg.joining.Store(true)
	out, err := d.airlock(ctx, append(args, link)...)
	sg.joining.Store(false)
	if ctx.Err() != nil {
		return nil
	}
	sg.waitIdle(ctx, 5*time.Second)
	d.pr.block(out)
	if err != nil {
		return fmt.Errorf("airlock join: %w; see %s", err, d.logPath)
	}
	failed := false
	for _, c := range [][]string{{"get", "namespaces"}, {"auth", "whoami"}} {
		args := append([]string{"--context", joinContext}, c...)
		d.pr.f("\n$ kubectl %s", strings.Join(args, " "))
		out, err := d.kubectl(ctx, args...)
		d.pr.block(out)
		if err != nil && ctx.Err() == nil {
			d.pr.f("(kubectl failed: %v)", err)
			failed = true
		}
	}
	if failed {
		d.status(ctx)
		return fmt.Errorf("kubectl through the joined context failed; see %s", d.logPath)
	}
	d.pr.f(`
kubectl authenticated as you — your email and groups, from the edge's sign-in — with
no client certificate or token in the kubeconfig: its user %s runs
'airlock credential', which asks the daemon for a short-lived token for this cluster.`, joinContext)
	d.status(ctx)
	d.printTokens(ctx)
	d.printTry()
	return d.wait(ctx, signerDone)
}

// joinListenFree checks that the address the joined cluster will listen on
// (the daemon's first default, 127.0.0.2:1080) is free: a person's own
// Airlock daemon, or another demo, holds it otherwise, and the demo's
// daemon could not listen there.
func joinListenFree() error {
	addr := net.JoinHostPort("127.0.0.2", strconv.Itoa(config.DefaultPort))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s, where the joined cluster listens, is taken (is your own Airlock daemon, or another demo, running? stop it, or run the demo with -token): %w", addr, err)
	}
	return l.Close()
}

// airlock runs an airlock verb against the demo's daemon.
func (d *demo) airlock(ctx context.Context, args ...string) (string, error) {
	args = append([]string{args[0], "--socket", d.s.Socket}, args[1:]...)
	cmd := exec.CommandContext(ctx, filepath.Join(d.s.Bin, "airlock"), args...)
	cmd.Env = d.s.Env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}
