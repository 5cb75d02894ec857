package core

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
)

// recordingSync records the core's calls and answers each Up with an
// applied entry, as the daemon's Syncer glue does, through SetKubeconfig.
type recordingSync struct {
	mu    sync.Mutex
	core  *Core
	calls []string
}

func (r *recordingSync) Up(ctx context.Context, c config.Cluster, proxyURL string) {
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf("up %s %v %v %s", c.Name, c.Kubeconfig.Clusters, c.Kubeconfig.Servers, proxyURL))
	core := r.core
	r.mu.Unlock()
	core.SetKubeconfig(c.Name, apitype.Kubeconfig{Applied: []apitype.KubeconfigEntry{{File: "/k", Cluster: c.Name + "-entry"}}})
}

func (r *recordingSync) Down(ctx context.Context, name string) {
	r.mu.Lock()
	r.calls = append(r.calls, "down "+name)
	core := r.core
	r.mu.Unlock()
	core.SetKubeconfig(name, apitype.Kubeconfig{})
}

func (r *recordingSync) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func TestKubeconfigFollowsListener(t *testing.T) {
	rs := &recordingSync{}
	c, err := New(Options{
		Config: testConfig(t,
			config.Cluster{Name: "prod", Kubeconfig: config.Kubeconfig{Clusters: []string{"prod-eks"}}},
			config.Cluster{Name: "stage", Autoconnect: no(), Kubeconfig: config.Kubeconfig{Servers: []string{"https://stage:6443"}}},
			config.Cluster{Name: "plain"}),
		NewEdge:         func(config.Edge, *slog.Logger) Edge { return &fakeEdge{} },
		Kubeconfig:      rs,
		KubeconfigFiles: []string{"/k", "/k2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	rs.core = c
	sub := c.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	prod := waitState(t, c, "prod", apitype.StateConnected)
	waitState(t, c, "plain", apitype.StateConnected)
	if got, want := rs.take(), []string{"up prod [prod-eks] [] " + prod.ProxyURL}; !slices.Equal(got, want) {
		t.Fatalf("calls after start = %q, want %q (never for a cluster without a kubeconfig block)", got, want)
	}
	st := c.Status()
	if !slices.Equal(st.KubeconfigFiles, []string{"/k", "/k2"}) {
		t.Errorf("status kubeconfig files = %v", st.KubeconfigFiles)
	}
	if k := st.FindCluster("plain").Kubeconfig; k != nil {
		t.Errorf("a cluster that maps nothing shows kubeconfig %+v", k)
	}
	if k := st.FindCluster("prod").Kubeconfig; k == nil || !slices.Equal(k.Clusters, []string{"prod-eks"}) || len(k.Applied) != 1 || k.Applied[0].Cluster != "prod-entry" {
		t.Errorf("prod's kubeconfig = %+v", k)
	}

	stage, err := c.Connect(ctxT(t), "stage")
	if err != nil {
		t.Fatal(err)
	}
	if k := stage.Kubeconfig; k == nil || len(k.Applied) != 1 || !slices.Equal(k.Servers, []string{"https://stage:6443"}) {
		t.Errorf("Connect's answer does not carry what the sync did: %+v", k)
	}
	if _, err := c.Connect(ctxT(t), "stage"); err != nil {
		t.Fatal(err)
	}
	got, err := c.Disconnect(ctxT(t), "stage")
	if err != nil {
		t.Fatal(err)
	}
	if got.Kubeconfig == nil || len(got.Kubeconfig.Applied) != 0 {
		t.Errorf("Disconnect's answer = %+v, want nothing applied", got.Kubeconfig)
	}
	if _, err := c.Disconnect(ctxT(t), "stage"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Disconnect(ctxT(t), "plain"); err != nil {
		t.Fatal(err)
	}
	want := []string{"up stage [] [https://stage:6443] " + stage.ProxyURL, "down stage"}
	if got := rs.take(); !slices.Equal(got, want) {
		t.Fatalf("calls = %q, want %q (once per listener up and down)", got, want)
	}

	// The sync's reports reach the event stream.
	if ev, err := sub.Next(ctxT(t)); err != nil || ev.Type != apitype.EventStatus {
		t.Fatalf("first event = %+v, %v; want the full status", ev, err)
	}
	c.SetKubeconfig("prod", apitype.Kubeconfig{Problem: &apitype.Problem{Code: apitype.KubeconfigLocked, Message: "kubeconfig /k: locked"}})
	c.SetKubeconfig("plain", apitype.Kubeconfig{Missing: []string{"x"}}) // ignored: maps nothing
	c.SetKubeconfig("nope", apitype.Kubeconfig{})                        // ignored: unknown
	ectx, ecancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ecancel()
	for {
		ev, err := sub.Next(ectx)
		if err != nil {
			t.Fatalf("no event with prod's kubeconfig problem: %v", err)
		}
		if ev.Type == apitype.EventCluster && ev.Cluster.Name == "plain" && ev.Cluster.Kubeconfig != nil {
			t.Fatalf("event for plain carries kubeconfig %+v", ev.Cluster.Kubeconfig)
		}
		if ev.Type == apitype.EventCluster && ev.Cluster.Name == "prod" && ev.Cluster.Kubeconfig != nil && ev.Cluster.Kubeconfig.Problem != nil {
			if ev.Cluster.Kubeconfig.Problem.Code != apitype.KubeconfigLocked || len(ev.Cluster.Kubeconfig.Applied) != 0 {
				t.Errorf("event = %+v", ev.Cluster.Kubeconfig)
			}
			break
		}
	}

	// Run's end closes the listeners but leaves the kubeconfig to the owner,
	// who gives everything back at once.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil
	if got := rs.take(); len(got) != 0 {
		t.Errorf("calls at shutdown = %q, want none", got)
	}
}
