// Package inflight owns counting work in progress and waiting for it to
// end: the connector's streams on a link it drains, the edge's streams at
// shutdown, the sign-ins the demo plays the browser for. A drain waits on
// a channel that closes when the count drops to zero, never by polling.
package inflight

import (
	"context"
	"sync"
)

// Tracker counts work in progress. The zero value counts none; a Tracker
// must not be copied after first use. It is safe for concurrent use.
type Tracker struct {
	mu   sync.Mutex
	n    int64
	idle chan struct{} // closed while n == 0; nil until Idle asks for it
}

// Add counts one more piece of work. Every Add is paired with one Done.
func (t *Tracker) Add() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.idle = nil // the closed one belongs to the idle time that ends
	}
	t.n++
}

// Done ends a piece of work counted by Add; the last one closes the
// channel Idle returned. It panics when nothing is counted.
func (t *Tracker) Done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		panic("inflight: Done without Add")
	}
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
	}
}

// Count returns the work in progress.
func (t *Tracker) Count() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Idle returns a channel that is closed once no work is in progress:
// closed already if none is now.
func (t *Tracker) Idle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idle == nil {
		t.idle = make(chan struct{})
		if t.n == 0 {
			close(t.idle)
		}
	}
	return t.idle
}

// Wait returns nil once no work is in progress, or the cause of ctx's end
// if that comes first.
func (t *Tracker) Wait(ctx context.Context) error {
	select {
	case <-t.Idle():
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
