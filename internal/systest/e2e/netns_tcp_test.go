package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/ingress"
	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/daemon/core"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/internal/wire"
)

// TestNetnsHelperAuto is the client part of TestNetnsUDPDropped: the
// daemon's own edge link (core.NewEdgeClient, an edgeclient.Fleet whose
// Transport feeds airlock status), with quic_retry from
// AIRLOCK_NETNS_QUIC_RETRY. It prints "transport NAME: REASON" at every
// change, and on the line "open" opens a stream, echoes through it and
// prints "open ok DURATION NAME" or "open failed ERROR".
func TestNetnsHelperAuto(t *testing.T) {
	if os.Getenv(helperRole) != "auto" {
		t.Skip("a helper of the netns tests")
	}
	var ed netnsEdge
	if err := json.Unmarshal([]byte(os.Getenv("AIRLOCK_NETNS_EDGE")), &ed); err != nil {
		t.Fatal(err)
	}
	retry, err := time.ParseDuration(os.Getenv("AIRLOCK_NETNS_QUIC_RETRY"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ed.CAPEM)
	ctx := testenv.Context(t)
	link := core.NewEdgeClient(config.Edge{Name: "netns", Address: ed.Addr, ServerName: ed.ServerName, RootCAs: pool, QUICRetry: retry},
		"netns-test", helperLogger())
	defer link.Close()
	tt := link.(core.TransportTeller)
	var out helperOut
	go out.answerOpens(ctx, func(ctx context.Context) (string, error) {
		s, err := link.Open(ctx, &wire.Open{App: ed.App, Token: ed.Token, Target: "echo:1"})
		if err != nil {
			return "", err
		}
		defer s.Close()
		if _, err := io.WriteString(s, "hi"); err != nil {
			return "", err
		}
		got := make([]byte, 2)
		if _, err := io.ReadFull(s, got); err != nil || string(got) != "hi" {
			return "", fmt.Errorf("echo %q %v", got, err)
		}
		name, _ := tt.Transport()
		return " " + name, nil
	})
	out.reportChanges(ctx, func() string {
		name, why := tt.Transport() // as airlock status asks
		if name == "" {
			return ""
		}
		return "transport " + name + ": " + why
	})
}

// TestNetnsUDPDropped: the path drops UDP from the client to the edge (nft
// at the edge's input, by the client's address); TCP to the same port
// passes. The daemon's edge link opens a
// stream over TLS on TCP after the QUIC dial heard nothing for 1.5 s and
// says so (what airlock status shows); once UDP passes again, its retry
// (quic_retry shortened to 1s) moves it back to QUIC, and streams open
// over QUIC.
func TestNetnsUDPDropped(t *testing.T) {
	p := startNetnsEdge(t)
	ctx := testenv.Context(t)
	p.edgeNS.Nft(t, fmt.Sprintf(`table inet noudp {
	chain in {
		type filter hook input priority 0;
		ip saddr 10.213.1.1 udp dport %s drop
	}
}
`, p.port(t)))
	client := startHelper(t, p.clientNS, "auto", "AIRLOCK_NETNS_EDGE="+p.desc, "AIRLOCK_NETNS_QUIC_RETRY=1s")
	client.send(t, "open")
	l := client.await(t, ctx, "open ok")
	if !strings.HasSuffix(l, " TCP") {
		t.Fatalf("with UDP dropped: %s, want TCP", l)
	}
	t.Logf("UDP dropped: %s", l)
	why := client.await(t, ctx, "transport TCP: ")
	if !strings.Contains(why, "UDP to the edge got no answer within 1.5 s; trying QUIC again") {
		t.Fatalf("status says %q", why)
	}
	t.Logf("status: %s", why)

	p.edgeNS.Nft(t, "flush ruleset\n")
	restored := time.Now()
	l = client.await(t, ctx, "transport QUIC")
	t.Logf("UDP passes again: %s, %s later", l, time.Since(restored).Round(10*time.Millisecond))
	client.send(t, "open")
	if l := client.await(t, ctx, "open ok"); !strings.HasSuffix(l, " QUIC") {
		t.Fatalf("after UDP came back: %s, want QUIC", l)
	}
}

// TestNetnsHelperConnector is the connector part of
// TestNetnsConnectorBackToQUIC: a real connector (one connection) for the
// edge's second tunnel, with RetryQUICAfter from AIRLOCK_NETNS_QUIC_RETRY.
// It prints "transport NAME" each time its connected link's transport
// changes, from the status /ready shows.
func TestNetnsHelperConnector(t *testing.T) {
	if os.Getenv(helperRole) != "connector" {
		t.Skip("a helper of the netns tests")
	}
	var ed netnsEdge
	if err := json.Unmarshal([]byte(os.Getenv("AIRLOCK_NETNS_EDGE")), &ed); err != nil {
		t.Fatal(err)
	}
	retry, err := time.ParseDuration(os.Getenv("AIRLOCK_NETNS_QUIC_RETRY"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := ingress.ParseFlag("conn.netns.test=tcp://127.0.0.1:1", "--ingress")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := ingress.New([]ingress.Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	c, err := connector.New(connector.Config{Credentials: ed.Tunnel, Rules: rules, HAConnections: 1,
		RetryQUICAfter: retry, Logger: helperLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	last := ""
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, cs := range c.Status().Connections {
			if cs.State == connector.StateConnected && cs.Transport != last {
				last = cs.Transport
				fmt.Printf("transport %s\n", last)
			}
		}
		select {
		case <-ctx.Done():
			<-done
			return
		case <-tick.C:
		}
	}
}

// TestNetnsConnectorBackToQUIC: the path drops UDP from the connector to
// the edge (nft at the edge's input); the connector's link comes up over
// TLS on TCP. Once UDP passes again, its retry (RetryQUICAfter shortened
// to 1s) dials QUIC beside the TCP link and moves to it, without a
// reconnect: the same mechanism as the daemon's (TestNetnsUDPDropped).
func TestNetnsConnectorBackToQUIC(t *testing.T) {
	p := startNetnsEdge(t)
	ctx := testenv.Context(t)
	p.edgeNS.Nft(t, fmt.Sprintf(`table inet noudp {
	chain in {
		type filter hook input priority 0;
		ip saddr 10.213.1.1 udp dport %s drop
	}
}
`, p.port(t)))
	c := startHelper(t, p.clientNS, "connector", "AIRLOCK_NETNS_EDGE="+p.desc, "AIRLOCK_NETNS_QUIC_RETRY=1s")
	if l := c.await(t, ctx, "transport "); l != "transport TCP" {
		t.Fatalf("with UDP dropped: %s, want TCP", l)
	}
	p.edgeNS.Nft(t, "flush ruleset\n")
	restored := time.Now()
	l := c.await(t, ctx, "transport ")
	if l != "transport QUIC" {
		t.Fatalf("after UDP came back: %s, want QUIC", l)
	}
	t.Logf("UDP passes again: on QUIC %s later", time.Since(restored).Round(10*time.Millisecond))
}
