package transport_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/transport"
	"github.com/airlockhq/airlock/internal/wire"
)

func tlsConfigs(tb testing.TB) (server, client *tls.Config) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edge.test"},
		DNSNames: []string{"edge.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos: []string{wire.ALPN, transport.ALPNTCP}, MinVersion: tls.VersionTLS13}
	client = &tls.Config{RootCAs: pool, ServerName: "edge.test", NextProtos: []string{wire.ALPN}, MinVersion: tls.VersionTLS13}
	return server, client
}

// pair returns the two ends of a connection of the named transport over
// loopback.
func pair(tb testing.TB, name string, opts transport.TCPOptions) (client, server transport.Conn) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sconf, cconf := tlsConfigs(tb)
	srv := make(chan transport.Conn, 1)
	errc := make(chan error, 1)
	switch name {
	case transport.NameQUIC:
		ln, err := quic.ListenAddr("127.0.0.1:0", sconf, &quic.Config{MaxIdleTimeout: 5 * time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { ln.Close() })
		go func() {
			qc, err := ln.Accept(ctx)
			if err != nil {
				errc <- err
				return
			}
			srv <- transport.QUIC(qc)
		}()
		qc, err := quic.DialAddr(ctx, ln.Addr().String(), cconf, &quic.Config{MaxIdleTimeout: 5 * time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		client = transport.QUIC(qc)
	case transport.NameTCP:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { ln.Close() })
		go func() {
			raw, err := ln.Accept()
			if err != nil {
				errc <- err
				return
			}
			tc := tls.Server(raw, sconf)
			if err := tc.HandshakeContext(ctx); err != nil {
				errc <- err
				return
			}
			c, err := transport.ServeTCP(context.Background(), tc, opts)
			if err != nil {
				errc <- err
				return
			}
			srv <- c
		}()
		client, err = transport.DialTCP(ctx, ln.Addr().String(), cconf, transport.TCPOptions{})
		if err != nil {
			tb.Fatal(err)
		}
	}
	select {
	case server = <-srv:
	case err := <-errc:
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		client.CloseWithError(0, "")
		server.CloseWithError(0, "")
	})
	return client, server
}

// streams opens a stream on a and accepts it on b (a stream shows up at
// the peer with its first bytes, so one byte is sent and read).
func streams(tb testing.TB, a, b transport.Conn) (transport.Stream, transport.Stream) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := a.OpenStream(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Write([]byte{0}); err != nil {
		tb.Fatal(err)
	}
	r, err := b.AcceptStream(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 1)); err != nil {
		tb.Fatal(err)
	}
	return s, r
}

var transports = []string{transport.NameQUIC, transport.NameTCP}

// TestStreamSemantics runs the same cases on both transports: what one
// end does reaches the other the same way on QUIC and on TCP.
func TestStreamSemantics(t *testing.T) {
	for _, name := range transports {
		t.Run(name, func(t *testing.T) {
			t.Run("bulk both ways with half-close", func(t *testing.T) {
				c, s := pair(t, name, transport.TCPOptions{})
				a, b := streams(t, c, s)
				data := make([]byte, 3<<20+17)
				rand.Read(data)
				go func() {
					a.Write(data)
					a.Close()
				}()
				got, err := io.ReadAll(b)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %d of %d bytes, err %v", len(got), len(data), err)
				}
				// b's direction still works after a's FIN.
				if _, err := b.Write([]byte("answer")); err != nil {
					t.Fatal(err)
				}
				b.Close()
				got, err = io.ReadAll(a)
				if err != nil || string(got) != "answer" {
					t.Fatalf("got %q, %v", got, err)
				}
			})
			t.Run("a reset reaches the peer with its code", func(t *testing.T) {
				c, s := pair(t, name, transport.TCPOptions{})
				a, b := streams(t, c, s)
				a.Write([]byte("partial"))
				transport.Abort(a, wire.CodeOriginUnreachable)
				_, err := io.ReadAll(b)
				if err == nil {
					t.Fatal("a reset stream read as a clean end")
				}
				if code := relay.CodeOf(err); code != wire.CodeOriginUnreachable {
					t.Fatalf("code %v (%v), want origin unreachable", code, err)
				}
			})
			t.Run("a reset with nothing sent", func(t *testing.T) {
				c, s := pair(t, name, transport.TCPOptions{})
				a, b := streams(t, c, s)
				transport.Abort(b, wire.CodeOverloaded)
				_, err := io.ReadAll(a)
				if code := relay.CodeOf(err); code != wire.CodeOverloaded {
					t.Fatalf("code %v (%v), want overloaded", code, err)
				}
			})
			t.Run("a reader that stops stops the writer", func(t *testing.T) {
				c, s := pair(t, name, transport.TCPOptions{})
				a, b := streams(t, c, s)
				b.CancelRead(wire.CodeOK) // as a closed net.Conn does
				buf := make([]byte, 64<<10)
				var err error
				for sent := 0; err == nil; sent += len(buf) {
					if sent > 1<<30 {
						t.Fatal("the writer was not stopped after 1 GiB")
					}
					_, err = a.Write(buf)
				}
				var qe *quic.StreamError
				var te *transport.StreamError
				if !(errors.As(err, &qe) && qe.Remote) && !(errors.As(err, &te) && te.Remote) {
					t.Fatalf("write error %v, want the peer's stop", err)
				}
			})
			t.Run("a connection closed with a code", func(t *testing.T) {
				c, s := pair(t, name, transport.TCPOptions{})
				a, _ := streams(t, c, s)
				s.CloseWithError(wire.CodeGoingAway, "edge shutting down")
				_, err := io.ReadAll(a)
				if code := relay.CodeOf(err); code != wire.CodeGoingAway {
					t.Fatalf("stream: code %v (%v), want going away", code, err)
				}
				<-c.Context().Done()
				if code := relay.CodeOf(context.Cause(c.Context())); code != wire.CodeGoingAway {
					t.Fatalf("connection: code %v (%v), want going away", code, context.Cause(c.Context()))
				}
			})
			t.Run("a read deadline is not the end", func(t *testing.T) {
				c, s := pair(t, name, transport.TCPOptions{})
				a, b := streams(t, c, s)
				b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				if _, err := b.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("err %v, want a deadline", err)
				}
				b.SetReadDeadline(time.Time{})
				a.Write([]byte("late"))
				got := make([]byte, 4)
				if _, err := io.ReadFull(b, got); err != nil || string(got) != "late" {
					t.Fatalf("got %q, %v", got, err)
				}
			})
		})
	}
}
