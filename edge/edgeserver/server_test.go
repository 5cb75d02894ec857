package edgeserver

import (
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/edge"
)

func TestRelay(t *testing.T) {
	e := startEdge(t)
	e.connector(t, "conn-a", e.creds)
	c := e.client(t)
	tok := e.mint(t, testApp, "alice@example.com", time.Hour)
	str, res := open(t, c, &edge.Open{App: testApp, Token: tok, Target: "kubernetes:443"})
	if res.Code != edge.CodeOK {
		t.Fatalf("result %v", res.Err())
	}
	if got := roundTrip(t, str, "hello"); got != "conn-a:hello" {
		t.Fatalf("relayed %q", got)
	}
	r := e.auditFor(t, func(r AuditRecord) bool { return r.Outcome == "ok" })
	if r.User != "alice@example.com" || r.App != testApp || r.Tunnel != "demo" || r.BytesFromClient != 5 ||
		r.BytesToClient != int64(len("conn-a:hello")) || r.ConnectorConn == "" || r.Target != "kubernetes:443" {
		t.Fatalf("audit %+v", r)
	}
	if strings.Contains(e.audit.String(), tok) {
		t.Fatal("the audit log holds the token")
	}
}
