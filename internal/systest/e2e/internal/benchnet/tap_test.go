package benchnet

import (
	"testing"
)

func TestTap(t *testing.T) {
	origin := startOrigin(t)
	ctx := testCtx(t)
	tap, err := NewTap(ctx, origin)
	if err != nil {
		t.Fatal(err)
	}
	defer tap.Close()
	for _, tc := range []struct {
		name  string
		first []byte // written before the echo probe
		hello bool
	}{
		{name: "plain", hello: false},
		{name: "client hello after socks bytes", first: []byte{5, 1, 0, 0x16, 3, 1, 0, 200, 1}, hello: true},
		{name: "server hello only", first: []byte{0x16, 3, 3, 0, 90, 2}, hello: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tap.Addr())
			if err := Echo(ctx, c); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(tc.first); err != nil {
				t.Fatal(err)
			}
			c.Close()
			conns, err := tap.Take(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(conns) != 1 {
				t.Fatalf("%d connections, want 1", len(conns))
			}
			got := conns[0]
			if got.ClientHello != tc.hello || got.Up < int64(2+len(tc.first)) || got.Down < 1 || got.Closed.Before(got.Opened) {
				t.Errorf("connection %+v; want ClientHello %v, at least %d bytes up and 1 down", got, tc.hello, 2+len(tc.first))
			}
		})
	}
}
