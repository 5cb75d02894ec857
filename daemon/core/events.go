package core

import (
	"context"
	"errors"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// subscriptionQueue bounds the events one subscriber may have pending; past
// it the subscriber's queue is dropped and its next event is a fresh
// EventStatus, so a slow reader never blocks the core nor misses the latest
// state.
const subscriptionQueue = 64

// ErrSubscriptionClosed is returned by Next once the subscription or the
// core has closed.
var ErrSubscriptionClosed = errors.New("subscription closed")

// Subscription is one reader of the core's state changes. Its first event
// is a full EventStatus; then one EventCluster per change.
type Subscription struct {
	core   *Core
	notify chan struct{} // capacity 1: "something is pending"

	// guarded by core.mu
	queue  []apitype.Event
	resync bool
	closed bool
}

// Subscribe returns a new subscription; Close it when done.
func (c *Core) Subscribe() *Subscription {
	s := &Subscription{core: c, notify: make(chan struct{}, 1), resync: true}
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stopped:
		s.closed = true
	default:
		c.subs[s] = struct{}{}
	}
	return s
}

// publishLocked queues ev for every subscriber without blocking.
func (c *Core) publishLocked(ev apitype.Event) {
	for s := range c.subs {
		switch {
		case s.resync:
		case len(s.queue) >= subscriptionQueue:
			s.queue, s.resync = nil, true
		default:
			s.queue = append(s.queue, ev)
		}
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// Next returns the next event, waiting until there is one, ctx ends or the
// subscription closes.
func (s *Subscription) Next(ctx context.Context) (apitype.Event, error) {
	for {
		c := s.core
		c.mu.Lock()
		switch {
		case s.closed:
			c.mu.Unlock()
			return apitype.Event{}, ErrSubscriptionClosed
		case s.resync:
			st := c.statusLocked()
			s.resync, s.queue = false, nil
			c.mu.Unlock()
			return apitype.Event{Type: apitype.EventStatus, Time: time.Now(), Status: &st}, nil
		case len(s.queue) > 0:
			ev := s.queue[0]
			s.queue[0] = apitype.Event{}
			s.queue = s.queue[1:]
			c.mu.Unlock()
			return ev, nil
		}
		c.mu.Unlock()
		select {
		case <-s.notify:
		case <-ctx.Done():
			return apitype.Event{}, context.Cause(ctx)
		}
	}
}

// Close ends the subscription; a pending Next returns ErrSubscriptionClosed.
func (s *Subscription) Close() {
	s.core.mu.Lock()
	defer s.core.mu.Unlock()
	s.closeLocked()
}

func (s *Subscription) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	delete(s.core.subs, s)
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Watchers is the number of open subscriptions: the tray, a waiting
// `airlock login`, anything else that follows the events.
func (c *Core) Watchers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.subs)
}

// Publish sends ev to every subscriber, as the core's own changes are: for
// parts outside the core (sign-in). It never blocks.
func (c *Core) Publish(ev apitype.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.publishLocked(ev)
}

// PublishStatus sends every subscriber the full status, taken under the
// same lock as the publish so no newer event can precede it: for parts
// outside the core whose change shows in Status (sign-in per edge).
func (c *Core) PublishStatus() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.publishStatusLocked()
}
