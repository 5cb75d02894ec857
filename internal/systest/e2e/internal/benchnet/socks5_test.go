package benchnet

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"

	"github.com/things-go/go-socks5"
)

// startSOCKS runs a real SOCKS5 server (the library Airlock's daemon uses)
// with the given credentials, or none.
func startSOCKS(tb testing.TB, creds socks5.StaticCredentials) string {
	tb.Helper()
	var opts []socks5.Option
	if creds != nil {
		opts = append(opts, socks5.WithCredential(creds))
	}
	srv := socks5.NewServer(opts...)
	ln := listen(tb)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

func TestDialSOCKS5(t *testing.T) {
	origin := startOrigin(t)
	open := startSOCKS(t, nil)
	locked := startSOCKS(t, socks5.StaticCredentials{"u": "p"})
	_, port, _ := net.SplitHostPort(origin)
	tests := []struct {
		name, proxy, user, pass, target string
		wantErr                         bool
	}{
		{"no auth, IP target", open, "", "", origin, false},
		{"no auth, name target", open, "", "", net.JoinHostPort("localhost", port), false},
		{"user and password", locked, "u", "p", origin, false},
		{"wrong password", locked, "u", "nope", origin, true},
		{"no credentials for a locked proxy", locked, "", "", origin, true},
		{"bad target", open, "", "", "no-port", true},
		{"refused target", open, "", "", "127.0.0.1:1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DialSOCKS5(testCtx(t), tt.proxy, tt.user, tt.pass, tt.target)
			if tt.wantErr {
				if err == nil {
					c.Close()
					t.Fatal("DialSOCKS5 succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := Echo(testCtx(t), c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSOCKS5HTTPSProbe(t *testing.T) {
	origin, ca := startHTTPSOrigin(t)
	tests := []struct {
		name, proxy, user, pass string
		wantErr                 bool
	}{
		{"no auth", startSOCKS(t, nil), "", "", false},
		{"user and password", startSOCKS(t, socks5.StaticCredentials{"u": "p"}), "u", "p", false},
		{"wrong password", startSOCKS(t, socks5.StaticCredentials{"u": "p"}), "u", "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probe, err := NewSOCKS5HTTPSProbe(tt.proxy, tt.user, tt.pass, origin, ca)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				err = probe.Get(testCtx(t))
				if (err != nil) != tt.wantErr {
					t.Fatalf("Get = %v, want error %v", err, tt.wantErr)
				}
			}
		})
	}
}

func TestDialSOCKS5Cancelled(t *testing.T) {
	// A proxy that accepts and never answers.
	ln := listen(t)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DialSOCKS5(ctx, ln.Addr().String(), "", "", "127.0.0.1:80"); !errors.Is(err, context.Canceled) {
		t.Fatalf("DialSOCKS5 with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
		code    byte
	}{
		{"ipv4", []byte{5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90}, "127.0.0.1:8080", false, 0},
		{"ipv6", append(append([]byte{5, 0, 0, 4}, net.IPv6loopback...), 0, 80), "[::1]:80", false, 0},
		{"name", []byte{5, 0, 0, 3, 4, 'h', 'o', 's', 't', 0, 1}, "host:1", false, 0},
		{"refused", []byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}, "", true, 5},
		{"bad version", []byte{4, 0, 0, 1, 0, 0, 0, 0, 0, 0}, "", true, 0},
		{"bad address type", []byte{5, 0, 0, 9}, "", true, 0},
		{"short", []byte{5, 0, 0, 1, 127}, "", true, 0},
		{"empty", nil, "", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadReply(bytes.NewReader(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ReadReply = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
			var se *SOCKSError
			if tt.code != 0 && (!errors.As(err, &se) || se.Code != tt.code) {
				t.Fatalf("ReadReply error = %v, want a SOCKSError with code %d", err, tt.code)
			}
		})
	}
}

func FuzzReadReply(f *testing.F) {
	f.Add([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90})
	f.Add([]byte{5, 0, 0, 3, 4, 'h', 'o', 's', 't', 0, 1})
	f.Add(append(append([]byte{5, 0, 0, 4}, net.IPv6loopback...), 0, 80))
	f.Add([]byte{5, 1, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{5, 0, 0, 3, 255})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := ReadReply(bytes.NewReader(in))
		if err == nil {
			if _, _, err := net.SplitHostPort(got); err != nil {
				t.Fatalf("ReadReply returned %q, not host:port: %v", got, err)
			}
		}
	})
}

func FuzzConnectRequest(f *testing.F) {
	f.Add("127.0.0.1:80")
	f.Add("[::1]:443")
	f.Add("k8s.example.com:6443")
	f.Add("bad")
	f.Fuzz(func(t *testing.T, target string) {
		req, err := connectRequest(target)
		if err != nil {
			return
		}
		if len(req) < 7 || req[0] != 5 || req[1] != 1 {
			t.Fatalf("connectRequest(%q) = %x, not a SOCKS5 CONNECT", target, req)
		}
	})
}
