// Package connectortest runs a real connector in-process for other
// packages' tests, joined to an in-process edge from edge/edgetest.
package connectortest

import (
	"context"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/ingress"
	"github.com/airlockhq/airlock/edge/edgetest"
)

// Start runs a connector for tunnel tun of edge e with the given ingress
// rules in flag form (HOSTNAME=tcp://HOST:PORT, first match wins, deny-all
// after them), and stops it when the test ends: the test fails if it does
// not stop within 15 s or returns an error.
func Start(tb testing.TB, e *edgetest.Edge, tun *edgetest.Tunnel, rules ...string) *connector.Connector {
	tb.Helper()
	var rs []ingress.Rule
	for _, s := range rules {
		r, err := ingress.ParseFlag(s, "connectortest")
		if err != nil {
			tb.Fatal(err)
		}
		rs = append(rs, r)
	}
	parsed, err := ingress.New(rs)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := connector.New(connector.Config{Credentials: tun.Credentials, Edges: []string{e.Addr}, Rules: parsed, Grace: -1})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("connector: %v", err)
			}
		case <-time.After(15 * time.Second):
			tb.Error("connector did not stop within 15 s")
		}
	})
	return c
}
