package socks

import (
	"context"
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
	"net"
	"sync"
	"testing"
	"time"
)

// rotatingSource hands out tok1, then tok2 once tok1 is invalidated; it
// can hold each call for a while, like a sign-in in progress.
type rotatingSource struct {
	mu          sync.Mutex
	cur         string
	invalidated []string
	delay       time.Duration
}

func (r *rotatingSource) Token(ctx context.Context) (string, error) {
	if r.delay > 0 {
		select {
		case <-time.After(r.delay):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur, nil
}

func (r *rotatingSource) Invalidate(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidated = append(r.invalidated, tok)
	if tok == r.cur {
		r.cur = "tok2"
	}
}

type staticSource string

func (s staticSource) Token(context.Context) (string, error) { return string(s), nil }

func TestOpenTokenRetry(t *testing.T) {
	refuse := func(bad ...string) (OpenerFunc, *[]string) {
		var mu sync.Mutex
		var seen []string
		return func(ctx context.Context, o *wire.Open) (net.Conn, error) {
			mu.Lock()
			seen = append(seen, o.Token)
			mu.Unlock()
			for _, b := range bad {
				if o.Token == b {
					return nil, wire.Errorf(wire.CodeUnauthenticated, "token revoked")
				}
			}
			c1, c2 := net.Pipe()
			c2.Close()
			return c1, nil
		}, &seen
	}
	t.Run("invalidated token is replaced once", func(t *testing.T) {
		src := &rotatingSource{cur: "tok1"}
		op, seen := refuse("tok1")
		s := New(Config{App: "a", Tokens: src, Edge: op})
		c, err := s.open(ctxT(t), "kubernetes:443")
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		if len(*seen) != 2 || (*seen)[1] != "tok2" || len(src.invalidated) != 1 {
			t.Fatalf("opens %v, invalidated %v", *seen, src.invalidated)
		}
	})
	t.Run("only once", func(t *testing.T) {
		src := &rotatingSource{cur: "tok1"}
		op, seen := refuse("tok1", "tok2")
		s := New(Config{App: "a", Tokens: src, Edge: op})
		if _, err := s.open(ctxT(t), "k:443"); relay.CodeOf(err) != wire.CodeUnauthenticated {
			t.Fatalf("open: %v", err)
		}
		if len(*seen) != 2 {
			t.Fatalf("%d opens, want 2", len(*seen))
		}
	})
	t.Run("no retry for a static token", func(t *testing.T) {
		op, seen := refuse("tok")
		s := New(Config{App: "a", Tokens: staticSource("tok"), Edge: op})
		if _, err := s.open(ctxT(t), "k:443"); err == nil {
			t.Fatal("open succeeded")
		}
		if len(*seen) != 1 {
			t.Fatalf("%d opens, want 1", len(*seen))
		}
	})
	t.Run("the token wait is not bounded by the open timeout", func(t *testing.T) {
		src := &rotatingSource{cur: "tok1", delay: 300 * time.Millisecond}
		op, _ := refuse()
		s := New(Config{App: "a", Tokens: src, Edge: op, OpenTimeout: 50 * time.Millisecond})
		c, err := s.open(ctxT(t), "k:443")
		if err != nil {
			t.Fatalf("a slow sign-in failed the open: %v", err)
		}
		c.Close()
	})
}
