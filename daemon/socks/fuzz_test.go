package socks

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/airlockhq/airlock/daemon/tokens"
	"github.com/airlockhq/airlock/internal/wire"
)

// FuzzServeConn feeds arbitrary bytes from a local client to the SOCKS5
// handshake: it must neither panic nor hang, and only a client that knows
// the credentials may reach the edge.
func FuzzServeConn(f *testing.F) {
	const user, pass = "airlock-u", "secret"
	auth := append([]byte{5, 1, 2, 1, byte(len(user))}, user...)
	auth = append(append(auth, byte(len(pass))), pass...)
	f.Add(append(append([]byte{}, auth...), 5, 1, 0, 3, 4, 'k', 'u', 'b', 'e', 1, 187))
	f.Add(append(append([]byte{}, auth...), 5, 1, 0, 1, 127, 0, 0, 1, 0, 80))
	f.Add(append(append([]byte{}, auth...), 5, 2, 0, 1, 127, 0, 0, 1, 0, 80))
	f.Add(append(append([]byte{}, auth...), 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 187))
	f.Add([]byte{5, 1, 0, 5, 1, 0, 3, 1, 'x', 0, 1})
	f.Add([]byte{4, 1, 0, 80, 127, 0, 0, 1, 0})
	f.Add([]byte{5, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		opened := false
		s := New(Config{
			App: "k8s.example.com", Username: user, Password: pass, Tokens: tokens.Static("t"),
			Edge: OpenerFunc(func(context.Context, *wire.Open) (net.Conn, error) {
				opened = true
				return nil, wire.Errorf(wire.CodeForbidden, "fuzz")
			}),
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		client, server := net.Pipe()
		defer client.Close()
		go io.Copy(io.Discard, client)
		server.SetDeadline(time.Now().Add(5 * time.Second))
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.protocol(ctx).ServeConn(server)
		}()
		client.Write(data)
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ServeConn hung")
		}
		if opened && !(bytes.Contains(data, []byte(user)) && bytes.Contains(data, []byte(pass))) {
			t.Fatalf("reached the edge without the credentials: %x", data)
		}
	})
}
