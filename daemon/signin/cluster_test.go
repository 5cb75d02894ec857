package signin

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestClusterCredential: the credential for a cluster that trusts the
// edge is another token than the stream's (aud = the cluster's audience,
// refused on a stream), made once for parallel callers and cached, and
// dropped with the sign-in; an app without Kubernetes identity gets the
// edge's reason (issue 13 item 3).
func TestClusterCredential(t *testing.T) {
	r := newEdgeRig(t, 0)
	r.e.UpdateConfig(t, func(c *edge.Config) error {
		for i := range c.Apps {
			if c.Apps[i].Hostname == appA {
				c.Apps[i].Kubernetes = &edge.AppKubernetes{OIDC: &edge.KubeOIDC{Audience: "kubernetes:a"}}
			}
		}
		return nil
	})
	ctx := ctxT(t)
	const n = 10
	creds := make([]ClusterCredential, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { creds[i], errs[i] = r.m.ClusterCredential(ctx, appA) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || creds[i].Token != creds[0].Token {
			t.Fatalf("caller %d: %v (same credential %v)", i, errs[i], creds[i].Token == creds[0].Token)
		}
	}
	cred := creds[0]
	if got := r.count(exchangeGrantType); got != 1 {
		t.Errorf("%d token exchanges for %d callers, want 1", got, n)
	}
	if aud := audience(t, cred.Token); !slices.Equal(aud, []string{"kubernetes:a"}) {
		t.Fatalf("the cluster credential names %v, want the cluster's audience alone", aud)
	}
	if life := time.Until(cred.Expires); life <= 0 || life > 5*time.Minute {
		t.Errorf("expires in %s", life)
	}

	t.Run("is not the stream's token", func(t *testing.T) {
		stream, err := r.m.AppToken(ctx, appA)
		if err != nil {
			t.Fatal(err)
		}
		if stream == cred.Token {
			t.Fatal("the cluster credential is the stream's token")
		}
		if err := r.echo(t, appA, stream); err != nil {
			t.Fatalf("the stream token: %v", err)
		}
		if err := r.echo(t, appA, cred.Token); relay.CodeOf(err) != wire.CodeUnauthenticated {
			t.Fatalf("the cluster credential on a stream: %v, want unauthenticated", err)
		}
	})
	t.Run("cached", func(t *testing.T) {
		again, err := r.m.ClusterCredential(ctx, appA)
		if err != nil || again != cred {
			t.Fatalf("%v, same %v", err, again == cred)
		}
	})
	t.Run("an app without Kubernetes identity", func(t *testing.T) {
		_, err := r.m.ClusterCredential(ctx, appB)
		if se := signInErr(t, err); se.Code != "refused" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("dropped with the sign-in", func(t *testing.T) {
		before := r.count(exchangeGrantType)
		r.m.Source().(*edgeState).apps.clear()
		if _, err := r.m.ClusterCredential(ctx, appA); err != nil {
			t.Fatal(err)
		}
		if got := r.count(exchangeGrantType) - before; got != 1 {
			t.Errorf("%d exchanges after the drop, want 1", got)
		}
	})
}
