package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/daemon/kubeconfig"
)

// restoreTimeout bounds giving the kubeconfig back when the daemon stops: a
// few lock waits (kubeconfig.Options.LockTimeout is 2 s by default).
const restoreTimeout = 5 * time.Second

// kubeSync is the glue between the core and daemon/kubeconfig: the core
// tells it when a mapped cluster's listener comes up and goes down
// (core.KubeconfigSync), it drives the Syncer, and the Syncer's statuses go
// back to the core, which publishes them in Status and the event stream.
type kubeSync struct {
	log    *slog.Logger
	opts   kubeconfig.Options
	syncer *kubeconfig.Syncer

	mu   sync.Mutex
	core *core.Core                    // set after core.New, before the Syncer runs
	last map[string]apitype.Kubeconfig // what was logged last, per cluster
}

var _ core.KubeconfigSync = (*kubeSync)(nil)

func newKubeSync(log *slog.Logger, opts kubeconfig.Options) (*kubeSync, error) {
	k := &kubeSync{log: log, last: map[string]apitype.Kubeconfig{}}
	opts.OnStatus = k.onStatus
	s, err := kubeconfig.New(log, opts)
	if err != nil {
		return nil, err
	}
	k.opts, k.syncer = opts, s
	k.opts.OnStatus = nil
	return k, nil
}

// setCore hands over the core that statuses go to.
func (k *kubeSync) setCore(c *core.Core) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.core = c
}

// cleanup gives back what a daemon that crashed left in the kubeconfig
// files. Problems are logged; the Syncer takes over from there.
func (k *kubeSync) cleanup(ctx context.Context) {
	if err := kubeconfig.Cleanup(ctx, k.log, k.opts); err != nil {
		k.log.Warn("kubeconfig cleanup at start incomplete; carrying on", "err", err)
	}
}

// run watches the kubeconfig files until ctx ends. A watcher that cannot
// run is logged, not fatal: connect and disconnect still edit the files.
func (k *kubeSync) run(ctx context.Context) {
	if err := k.syncer.Run(ctx); err != nil {
		k.log.Error("kubeconfig watcher stopped: other tools' rewrites are no longer followed", "err", err)
	}
}

// restore gives every entry back, as on quit, with a fresh context: the
// daemon's own has ended by then.
func (k *kubeSync) restore() {
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	if err := k.syncer.DisconnectAll(ctx); err != nil {
		k.log.Warn("kubeconfig not fully given back; the next start cleans up", "err", err)
	}
}

// Up points the cluster's kubeconfig entries at its proxy-url.
func (k *kubeSync) Up(ctx context.Context, c config.Cluster, proxyURL string) {
	t := kubeconfig.Target{Name: c.Name, Clusters: c.Kubeconfig.Clusters, Servers: c.Kubeconfig.Servers}
	k.logCallErr("connect", c.Name, k.syncer.Connect(ctx, t, proxyURL))
}

// Down gives the cluster's kubeconfig entries back.
func (k *kubeSync) Down(ctx context.Context, name string) {
	k.logCallErr("disconnect", name, k.syncer.Disconnect(ctx, name))
}

// logCallErr logs an error that the status does not show: file errors are
// in the status (and logged when it changes); anything else is not.
func (k *kubeSync) logCallErr(what, name string, err error) {
	var fe *kubeconfig.FileError
	if err == nil || errors.As(err, &fe) {
		return
	}
	k.log.Warn("kubeconfig "+what+" failed", "cluster", name, "err", err)
}

// onStatus is the Syncer's OnStatus: it must not block.
func (k *kubeSync) onStatus(st kubeconfig.Status) {
	a := apiKubeconfig(st, k.syncer)
	k.mu.Lock()
	prev := k.last[st.Name]
	k.last[st.Name] = a
	c := k.core
	k.mu.Unlock()
	k.logChange(st.Name, prev, a)
	if c != nil {
		c.SetKubeconfig(st.Name, a)
	}
}

func (k *kubeSync) logChange(name string, prev, cur apitype.Kubeconfig) {
	if cur.Problem != nil && (prev.Problem == nil || *prev.Problem != *cur.Problem) {
		k.log.Warn("kubeconfig problem", "cluster", name, "cause", cur.Problem.Code, "err", cur.Problem.Message)
	}
	if cur.Problem == nil && prev.Problem != nil {
		k.log.Info("kubeconfig problem resolved", "cluster", name)
	}
	if !slices.Equal(prev.Applied, cur.Applied) {
		var entries []string
		for _, e := range cur.Applied {
			entries = append(entries, e.File+":"+e.Cluster)
		}
		k.log.Info("kubeconfig entries pointed at airlock", "cluster", name, "entries", entries)
	}
}

// status adds the kubeconfig files made private to st. It runs under the
// core's lock and takes only the Syncer's.
func (k *kubeSync) status(st *apitype.Status) {
	for _, m := range k.syncer.Tightened() {
		st.KubeconfigTightened = append(st.KubeconfigTightened, apitype.KubeconfigMode{
			File: m.File, From: fmt.Sprintf("%04o", m.From), To: fmt.Sprintf("%04o", m.To), Time: m.Time,
		})
	}
}

// apiKubeconfig turns a Syncer status into the control API's shape. s may
// be nil (then a missing entry's message names no files).
func apiKubeconfig(st kubeconfig.Status, s *kubeconfig.Syncer) apitype.Kubeconfig {
	a := apitype.Kubeconfig{Missing: slices.Clone(st.Missing)}
	for _, e := range st.Applied {
		a.Applied = append(a.Applied, apitype.KubeconfigEntry{File: e.File, Cluster: e.Cluster})
	}
	switch {
	case st.Err != nil:
		a.Problem = &apitype.Problem{Code: kubeconfigCode(st.Err), Message: oneLine(st.Err.Error())}
	case st.Connected && len(st.Missing) > 0:
		msg := "no kubeconfig cluster entry matches " + quoteAll(st.Missing)
		if s != nil {
			msg += " in " + strings.Join(s.Paths(), ", ")
		}
		a.Problem = &apitype.Problem{Code: apitype.KubeconfigEntryMissing, Message: msg}
	}
	return a
}

// kubeconfigCode names the cause of a Syncer error; with several, the one a
// person must act on first.
func kubeconfigCode(err error) string {
	for _, c := range []struct {
		err  error
		code string
	}{
		{kubeconfig.ErrParse, apitype.KubeconfigParse},
		{kubeconfig.ErrNotWritable, apitype.KubeconfigNotWritable},
		{fs.ErrPermission, apitype.KubeconfigNotWritable},
		{kubeconfig.ErrLocked, apitype.KubeconfigLocked},
		{kubeconfig.ErrUnsupported, apitype.KubeconfigUnsupported},
		{kubeconfig.ErrConflict, apitype.KubeconfigConflict},
		{kubeconfig.ErrVerify, apitype.KubeconfigVerify},
	} {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return apitype.KubeconfigError
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + n + `"`
	}
	return strings.Join(q, ", ")
}
