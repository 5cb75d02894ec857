package app

import (
	"fmt"
	"sync"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// Note is one desktop notification.
type Note struct {
	// Key groups notes for rate limiting and replacement: "cluster/kind".
	Key     string
	Summary string
	Body    string
	Urgent  bool
	// SignIn offers "Sign in…" on the note (where the notification server
	// shows actions): choosing it signs in as the menu item does.
	SignIn bool
}

// Notifier shows notes on the desktop.
type Notifier interface {
	Notify(n Note) error
}

// notes returns the notifications a change from prev to next calls for:
// a sign-in that waits for the user where the daemon did not open the
// browser (rate limit, no browser, the device flow), and a cluster that
// newly needs sign-in, was refused or became unreachable. prev nil (the
// first status) calls only for a waiting sign-in: the user must hear of
// it, whenever the tray attached.
func notes(prev, next *apitype.Status) []Note {
	if next == nil {
		return nil
	}
	var out []Note
	for _, e := range next.Edges {
		si := e.SignIn
		if si == nil || si.State != apitype.SignInNeeded || si.BrowserOpened || si.URL == "" {
			continue // nothing waits, or the browser shows the page already
		}
		if prev != nil {
			if old := prev.FindEdge(e.Name); old != nil && old.SignIn != nil && old.SignIn.State == apitype.SignInNeeded && old.SignIn.URL == si.URL {
				continue // told already
			}
		}
		out = append(out, signInNote(e.Name, si))
	}
	if prev == nil {
		return out
	}
	for _, cl := range next.Clusters {
		old := prev.FindCluster(cl.Name)
		if cl.State != apitype.StateError || cl.Problem == nil {
			continue
		}
		if old != nil && old.State == apitype.StateError && old.Problem != nil && old.Problem.Code == cl.Problem.Code {
			continue // no news
		}
		if n, ok := noteFor(cl); ok {
			out = append(out, n)
		}
	}
	return out
}

// signInNote tells the user where to sign in at edge: the URL, and the
// code for the device flow. A browser sign-in offers "Sign in…", which
// asks the daemon to open the browser now.
func signInNote(edge string, si *apitype.SignIn) Note {
	n := Note{Key: edge + "/signin", Summary: "Sign in to Airlock (" + edge + ")", Urgent: true}
	if si.UserCode != "" {
		n.Body = "Open " + si.URL + " on any device and enter the code " + si.UserCode + "."
		return n
	}
	n.Body = "Open " + si.URL + " to sign in, or choose “Sign in…”."
	n.SignIn = true
	return n
}

func noteFor(cl apitype.Cluster) (Note, bool) {
	p := cl.Problem
	switch {
	case needsSignIn(p.Code):
		return Note{Key: cl.Name + "/signin", Summary: "Sign-in needed for " + cl.Name,
			Body: "Choose “Sign in…” in the Airlock menu, or run `airlock login`.\n" + p.Message, Urgent: true}, true
	case p.Code == "forbidden":
		return Note{Key: cl.Name + "/refused", Summary: "Access to " + cl.Name + " refused",
			Body: p.Message + "\nAsk your administrator for access to " + cl.App + "."}, true
	case p.Code == "edge_unreachable", p.Code == "no_connector", p.Code == "origin_unreachable", p.Code == "unknown_app", p.Code == "listen_failed":
		return Note{Key: cl.Name + "/unreachable", Summary: cl.Name + " is unreachable", Body: p.Message}, true
	}
	return Note{}, false
}

// limiter lets a key through at most once per interval, and at most burst
// notes per interval in all.
type limiter struct {
	interval time.Duration
	burst    int
	now      func() time.Time

	mu     sync.Mutex
	last   map[string]time.Time
	recent []time.Time
}

func newLimiter(interval time.Duration, burst int, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	return &limiter{interval: interval, burst: burst, now: now, last: map[string]time.Time{}}
}

// allow reports whether key may be shown now, and records it if so.
func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.interval {
		return false
	}
	keep := l.recent[:0]
	for _, t := range l.recent {
		if now.Sub(t) < l.interval {
			keep = append(keep, t)
		}
	}
	l.recent = keep
	if len(l.recent) >= l.burst {
		return false
	}
	l.recent = append(l.recent, now)
	l.last[key] = now
	return true
}

// limitedNotifier drops notes the limiter refuses.
type limitedNotifier struct {
	n   Notifier
	lim *limiter
}

func (l limitedNotifier) Notify(n Note) error {
	if !l.lim.allow(n.Key) {
		return errRateLimited
	}
	return l.n.Notify(n)
}

var errRateLimited = fmt.Errorf("notification rate-limited")
