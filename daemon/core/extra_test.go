package core

import (
	"log/slog"
	"testing"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/config"
)

// Parts outside the core (sign-in) add to status and publish events.
func TestStatusExtraAndPublish(t *testing.T) {
	r := run(t, Options{
		Config:  testConfig(t, config.Cluster{Name: "a", Autoconnect: no()}),
		NewEdge: func(config.Edge, *slog.Logger) Edge { return &fakeEdge{} },
		StatusExtra: func(st *apitype.Status) {
			st.TokenStore = &apitype.TokenStore{Kind: "file"}
			st.Edges[0].SignIn = &apitype.SignIn{Edge: "main", State: apitype.SignInSignedOut}
		},
	})
	st := r.Status()
	if st.TokenStore == nil || st.Edges[0].SignIn == nil {
		t.Fatalf("status lacks the extra parts: %+v", st)
	}
	sub := r.Subscribe()
	defer sub.Close()
	ctx := ctxT(t)
	first, err := sub.Next(ctx)
	if err != nil || first.Status == nil || first.Status.TokenStore == nil {
		t.Fatalf("first event %+v %v", first, err)
	}
	r.Publish(apitype.Event{Type: apitype.EventSignIn, SignIn: &apitype.SignIn{Edge: "main", State: apitype.SignInSignedIn}})
	ev, err := sub.Next(ctx)
	if err != nil || ev.Type != apitype.EventSignIn || ev.SignIn.State != apitype.SignInSignedIn {
		t.Fatalf("published event %+v %v", ev, err)
	}
	r.PublishStatus()
	ev, err = sub.Next(ctx)
	if err != nil || ev.Type != apitype.EventStatus || ev.Status == nil || ev.Status.TokenStore == nil || len(ev.Status.Clusters) != 1 {
		t.Fatalf("published status %+v %v", ev, err)
	}
}
