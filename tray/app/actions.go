package app

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// do runs one clicked action.
func (a *App) do(ctx context.Context, act action) {
	st := a.latest()
	c := a.opts.Client
	switch act.kind {
	case actToggle:
		var cl *apitype.Cluster
		if st != nil {
			cl = st.FindCluster(act.cluster)
		}
		if cl == nil {
			a.log.Warn("clicked a cluster the daemon does not know", "cluster", act.cluster)
			return
		}
		if clusterView(*cl).On {
			a.log.Info("disconnecting", "cluster", cl.Name)
			if _, err := c.Disconnect(ctx, cl.Name); err != nil {
				a.log.Warn("disconnect failed", "cluster", cl.Name, "err", err)
			}
			return
		}
		a.log.Info("connecting", "cluster", cl.Name)
		if _, err := c.Connect(ctx, cl.Name); err != nil {
			a.log.Warn("connect failed", "cluster", cl.Name, "err", err)
		}
	case actConnectAll, actDisconnectAll:
		if st == nil {
			return
		}
		for _, cl := range st.Clusters {
			on := clusterView(cl).On
			var err error
			switch {
			case act.kind == actConnectAll && !on:
				_, err = c.Connect(ctx, cl.Name)
			case act.kind == actDisconnectAll && on:
				_, err = c.Disconnect(ctx, cl.Name)
			}
			if err != nil {
				a.log.Warn("connect/disconnect all: one cluster failed", "cluster", cl.Name, "err", err)
			}
		}
	case actCopy:
		var cl *apitype.Cluster
		if st != nil {
			cl = st.FindCluster(act.cluster)
		}
		if cl == nil || cl.ProxyURL == "" {
			a.log.Info("no proxy URL to copy: the cluster is not connected", "cluster", act.cluster)
			return
		}
		copyFn := a.opts.Clipboard
		if copyFn == nil {
			copyFn = func(ctx context.Context, text string) error { return CopyText(ctx, a.getenv, text) }
		}
		if err := copyFn(ctx, cl.ProxyURL); err != nil {
			// Show it instead; the URL holds the listener's credentials,
			// so it goes to the screen only, never to the log.
			a.log.Info("cannot copy to the clipboard; showing the proxy URL in a notification", "cluster", cl.Name, "err", err)
			a.show(Note{Key: cl.Name + "/proxy-url", Summary: "Proxy URL for " + cl.Name, Body: cl.ProxyURL})
			return
		}
		a.log.Info("copied the proxy URL to the clipboard", "cluster", cl.Name)
	case actOpenConfig:
		path := a.opts.ConfigPath
		if st != nil && st.ConfigPath != "" {
			path = st.ConfigPath
		}
		if path == "" {
			a.log.Warn("no configuration file to open")
			return
		}
		open := a.opts.Open
		if open == nil {
			open = OpenFile
		}
		if err := open(ctx, path); err != nil {
			a.log.Warn("cannot open the configuration", "path", path, "err", err)
			a.show(Note{Key: "open-config", Summary: "Cannot open the configuration", Body: path + ": " + err.Error()})
		}
	case actSync:
		res, err := c.Sync(ctx, apitype.SyncRequest{})
		if err != nil {
			a.log.Warn("sync failed", "err", err)
			a.show(Note{Key: "sync", Summary: "Could not sync your clusters", Body: err.Error()})
			return
		}
		for _, cat := range res.Catalogues {
			a.log.Info("synced", "edge", cat.Edge, "apps", len(cat.Apps), "added", cat.Added, "removed", cat.Removed)
		}
	case actLeave:
		res, err := c.Leave(ctx, apitype.LeaveRequest{})
		if err != nil {
			a.log.Warn("leave failed", "err", err)
			a.show(Note{Key: "leave", Summary: "Could not leave the fleet", Body: err.Error()})
			return
		}
		body := "Signed out; kubeconfig contexts removed: " + strings.Join(res.Removed, ", ")
		if len(res.Kept) > 0 {
			body += "; kept as you changed them: " + strings.Join(res.Kept, ", ")
		}
		a.show(Note{Key: "leave", Summary: "Left " + res.Edge, Body: body})
	case actSignIn, actSignOut:
		fn, what := a.opts.SignIn, "sign in"
		if act.kind == actSignOut {
			fn, what = a.opts.SignOut, "sign out"
		}
		if fn == nil {
			a.log.Info(what + " is not available from the tray in this version: use `airlock login` / `airlock logout`")
			return
		}
		if err := fn(ctx); err != nil {
			a.log.Warn(what+" failed", "err", err)
			a.show(Note{Key: "account", Summary: "Could not " + what, Body: err.Error()})
		}
	}
}

// ErrNoClipboard says no clipboard tool is installed.
var ErrNoClipboard = errors.New("no clipboard tool found (install wl-clipboard, xclip or xsel)")

// CopyText puts text on the desktop's clipboard with wl-copy (Wayland),
// xclip or xsel (X11), or pbcopy (macOS).
func CopyText(ctx context.Context, getenv func(string) string, text string) error {
	var tools [][]string
	if runtime.GOOS == "darwin" {
		tools = append(tools, []string{"pbcopy"})
	}
	if getenv("WAYLAND_DISPLAY") != "" {
		tools = append(tools, []string{"wl-copy"})
	}
	if getenv("DISPLAY") != "" {
		tools = append(tools, []string{"xclip", "-selection", "clipboard"}, []string{"xsel", "--clipboard", "--input"})
	}
	for _, t := range tools {
		path, err := exec.LookPath(t[0])
		if err != nil {
			continue
		}
		cmd := exec.CommandContext(ctx, path, t[1:]...)
		cmd.Stdin = strings.NewReader(text)
		// No pipes for output: xclip and wl-copy fork a child that keeps
		// serving the selection and would hold a pipe open until another
		// program takes the clipboard.
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", t[0], err)
		}
		return nil
	}
	return ErrNoClipboard
}

// OpenFile opens path with the desktop's default application (xdg-open,
// or open on macOS).
func OpenFile(ctx context.Context, path string) error {
	tool := "xdg-open"
	if runtime.GOOS == "darwin" {
		tool = "open"
	}
	bin, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("%s is not installed: open %s yourself", tool, path)
	}
	out, err := exec.CommandContext(ctx, bin, path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", tool, path, err, strings.TrimSpace(string(out)))
	}
	return nil
}
