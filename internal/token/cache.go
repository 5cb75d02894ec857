package token

import (
	"container/list"
	"time"
)

// lru is a bounded least-recently-used map from token strings to verified
// claims, each valid until a deadline. Not safe for concurrent use.
type lru struct {
	max int
	m   map[string]*list.Element
	ll  list.List
}

type lruEntry struct {
	tok    string
	claims *Claims
	until  time.Time
}

func newLRU(max int) *lru {
	return &lru{max: max, m: make(map[string]*list.Element)}
}

// get returns the claims cached for tok, or nil when there are none or they
// have lapsed.
func (c *lru) get(tok string, now time.Time) *Claims {
	el, ok := c.m[tok]
	if !ok {
		return nil
	}
	e := el.Value.(*lruEntry)
	if !now.Before(e.until) {
		c.remove(el)
		return nil
	}
	c.ll.MoveToFront(el)
	return e.claims
}

func (c *lru) put(tok string, claims *Claims, until time.Time) {
	if c.max <= 0 {
		return
	}
	if el, ok := c.m[tok]; ok {
		el.Value = &lruEntry{tok: tok, claims: claims, until: until}
		c.ll.MoveToFront(el)
		return
	}
	c.m[tok] = c.ll.PushFront(&lruEntry{tok: tok, claims: claims, until: until})
	for c.ll.Len() > c.max {
		c.remove(c.ll.Back())
	}
}

func (c *lru) remove(el *list.Element) {
	delete(c.m, el.Value.(*lruEntry).tok)
	c.ll.Remove(el)
}

func (c *lru) removeIf(drop func(*Claims) bool) {
	for el := c.ll.Front(); el != nil; {
		next := el.Next()
		if drop(el.Value.(*lruEntry).claims) {
			c.remove(el)
		}
		el = next
	}
}

func (c *lru) len() int { return c.ll.Len() }
