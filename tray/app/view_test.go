package app

import (
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/assets"
	"github.com/airlockhq/airlock/daemon/apitype"
)

func cluster(name string, st apitype.State, code string) apitype.Cluster {
	cl := apitype.Cluster{Name: name, App: name + ".example.com", State: st, Listen: "127.0.0.2:1080"}
	if st == apitype.StateConnected || (st == apitype.StateError && code != "listen_failed") {
		cl.ProxyURL = "socks5://u:p@127.0.0.2:1080"
	}
	if code != "" {
		cl.Problem = &apitype.Problem{Code: code, Message: code + " happened"}
	}
	return cl
}

func TestBuildView(t *testing.T) {
	tests := []struct {
		name     string
		clusters []apitype.Cluster
		icon     assets.State
		titles   []string
		on       []bool
		all      [2]bool // can connect all, can disconnect all
	}{
		{"nothing connected", []apitype.Cluster{cluster("a", apitype.StateDisconnected, "")}, assets.Disconnected,
			[]string{"a — disconnected"}, []bool{false}, [2]bool{true, false}},
		{"connected", []apitype.Cluster{cluster("a", apitype.StateConnected, ""), cluster("b", apitype.StateDisconnected, "")}, assets.Connected,
			[]string{"a — connected · 127.0.0.2:1080", "b — disconnected"}, []bool{true, false}, [2]bool{true, true}},
		{"connecting wins over connected", []apitype.Cluster{cluster("a", apitype.StateConnected, ""), cluster("b", apitype.StateConnecting, "")}, assets.Connecting,
			nil, []bool{true, true}, [2]bool{false, true}},
		{"error", []apitype.Cluster{cluster("a", apitype.StateConnected, ""), cluster("b", apitype.StateError, "forbidden")}, assets.Error,
			[]string{"a — connected · 127.0.0.2:1080", "b — error: access refused · 127.0.0.2:1080"}, []bool{true, true}, [2]bool{false, true}},
		{"sign-in wins over error", []apitype.Cluster{cluster("a", apitype.StateError, "edge_unreachable"), cluster("b", apitype.StateError, "unauthenticated")}, assets.SignIn,
			[]string{"a — error: edge unreachable · 127.0.0.2:1080", "b — error: sign-in needed · 127.0.0.2:1080"}, nil, [2]bool{false, true}},
		{"listen failed is off", []apitype.Cluster{cluster("a", apitype.StateError, "listen_failed")}, assets.Error,
			[]string{"a — error: cannot listen"}, []bool{false}, [2]bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := BuildView(&apitype.Status{Clusters: tt.clusters, ConfigPath: "/c.yaml"}, Account{}, "")
			if v.Icon != tt.icon {
				t.Errorf("icon %s, want %s", v.Icon, tt.icon)
			}
			for i, want := range tt.titles {
				if v.Clusters[i].Title != want {
					t.Errorf("title %d = %q, want %q", i, v.Clusters[i].Title, want)
				}
			}
			for i, want := range tt.on {
				if v.Clusters[i].On != want {
					t.Errorf("cluster %d on = %v, want %v", i, v.Clusters[i].On, want)
				}
			}
			if got := [2]bool{v.CanConnectAll, v.CanDisconnectAll}; got != tt.all {
				t.Errorf("connect all, disconnect all = %v, want %v", got, tt.all)
			}
			if v.Daemon != "" || v.ConfigPath != "/c.yaml" {
				t.Errorf("daemon %q config %q", v.Daemon, v.ConfigPath)
			}
		})
	}
}

func TestBuildViewAccountAndDaemon(t *testing.T) {
	v := BuildView(nil, Account{}, "")
	if v.Daemon == "" || v.Icon != assets.Connecting || len(v.Clusters) != 0 {
		t.Errorf("no daemon: %+v", v)
	}
	v = BuildView(nil, Account{}, "No Airlock daemon is running")
	if !strings.Contains(v.Tooltip, "No Airlock daemon") {
		t.Errorf("tooltip %q", v.Tooltip)
	}
	tests := []struct {
		acct    Account
		label   string
		action  bool
		signOut bool
	}{
		{Account{}, "Sign in…", false, false},
		{Account{CanSignIn: true}, "Sign in…", true, false},
		{Account{User: "alice@example.com", CanSignOut: true}, "Signed in as alice@example.com", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			v := BuildView(&apitype.Status{}, tt.acct, "")
			if v.Account != tt.label || v.AccountAction != tt.action || v.CanSignOut != tt.signOut {
				t.Errorf("%+v", v)
			}
			if !tt.action && tt.acct.User == "" && v.AccountNote == "" {
				t.Errorf("a disabled Sign in… carries no note")
			}
		})
	}
}

func TestNotes(t *testing.T) {
	st := func(cls ...apitype.Cluster) *apitype.Status { return &apitype.Status{Clusters: cls} }
	tests := []struct {
		name       string
		prev, next *apitype.Status
		want       []string // keys
	}{
		{"first status", nil, st(cluster("a", apitype.StateError, "forbidden")), nil},
		{"refused", st(cluster("a", apitype.StateConnected, "")), st(cluster("a", apitype.StateError, "forbidden")), []string{"a/refused"}},
		{"same problem again", st(cluster("a", apitype.StateError, "forbidden")), st(cluster("a", apitype.StateError, "forbidden")), nil},
		{"sign-in", st(cluster("a", apitype.StateError, "forbidden")), st(cluster("a", apitype.StateError, "unauthenticated")), []string{"a/signin"}},
		{"unreachable", st(cluster("a", apitype.StateConnecting, "")), st(cluster("a", apitype.StateError, "edge_unreachable")), []string{"a/unreachable"}},
		{"timeout says nothing", st(cluster("a", apitype.StateConnected, "")), st(cluster("a", apitype.StateError, "odd_code")), nil},
		{"recovered", st(cluster("a", apitype.StateError, "forbidden")), st(cluster("a", apitype.StateConnected, "")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, n := range notes(tt.prev, tt.next) {
				got = append(got, n.Key)
				if n.Summary == "" || n.Body == "" {
					t.Errorf("empty note %+v", n)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("notes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(time.Minute, 3, func() time.Time { return now })
	steps := []struct {
		advance time.Duration
		key     string
		want    bool
	}{
		{0, "a", true},
		{time.Second, "a", false}, // same key within the interval
		{time.Second, "b", true},
		{time.Second, "c", true},
		{time.Second, "d", false}, // burst of 3 used
		{time.Minute, "a", true},  // all aged out
		{0, "d", true},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := l.allow(s.key); got != s.want {
			t.Errorf("step %d (%s): allow = %v, want %v", i, s.key, got, s.want)
		}
	}
}

func TestApply(t *testing.T) {
	base := &apitype.Status{Clusters: []apitype.Cluster{cluster("a", apitype.StateDisconnected, "")}}
	if apply(nil, apitype.Event{Type: apitype.EventCluster, Cluster: &apitype.Cluster{Name: "a"}}) != nil {
		t.Error("a cluster event before any status changed something")
	}
	got := apply(base, apitype.Event{Type: apitype.EventCluster, Cluster: &apitype.Cluster{Name: "a", State: apitype.StateConnected}})
	if got.Clusters[0].State != apitype.StateConnected || base.Clusters[0].State != apitype.StateDisconnected {
		t.Errorf("apply changed the old status or missed the event: %+v / %+v", got, base)
	}
	got = apply(got, apitype.Event{Type: apitype.EventCluster, Cluster: &apitype.Cluster{Name: "b"}})
	if len(got.Clusters) != 2 {
		t.Errorf("new cluster not added: %+v", got.Clusters)
	}
	full := apply(got, apitype.Event{Type: apitype.EventStatus, Status: &apitype.Status{PID: 7}})
	if full.PID != 7 || len(full.Clusters) != 0 {
		t.Errorf("status event: %+v", full)
	}
	if apply(got, apitype.Event{Type: "unknown"}) != nil {
		t.Error("unknown event type changed something")
	}
}
