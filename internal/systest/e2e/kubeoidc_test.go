package e2e

import (
	"context"
	"testing"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/stack"
)

// trustEdge is the operator's side of a cluster whose API server trusts
// the edge as its OIDC issuer, once the edge's config names the app's
// audience and a public URL: it waits for the edge to serve the changed
// config (GET path, until served accepts the body), installs `airlock-edge
// app kube-auth` in s's kube-apiserver (started with
// kapitest.Options.JWTAuthn) and binds the group airlock:dev to the view
// role's rules with the kubectl at kubectl.
func trustEdge(ctx context.Context, tb testing.TB, s *stack.Stack, kubectl, path string, served func(body []byte) error) {
	tb.Helper()
	if err := s.WaitEdgeServes(ctx, path, served); err != nil {
		tb.Fatalf("the edge to serve its new config at %s: %v", path, err)
	}
	if err := s.TrustEdgeAsIssuer(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := s.KubeAPI.Apply(ctx, kubectl, kapitest.GroupBinding("airlock-dev-view", "system:aggregate-to-view", "airlock:dev")); err != nil {
		tb.Fatalf("bind the group: %v", err)
	}
}
