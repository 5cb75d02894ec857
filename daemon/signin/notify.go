package signin

import (
	"context"
	"log/slog"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// Notice tells the user a sign-in waits for them, or, with IdentityChange,
// that a sign-in completed as another user than before.
type Notice struct {
	Edge string
	// Apps are the app hostnames the sign-in is for.
	Apps []string
	// URL is where to sign in; UserCode the code to enter there (device
	// flow).
	URL, UserCode string
	// BrowserOpened says the browser was opened at URL already.
	BrowserOpened bool
	// IdentityChange, when set, is a warning rather than a request: the
	// sign-in that just completed is a different user (From → To) than
	// the one signed in before at this edge. URL and UserCode are empty.
	IdentityChange *apitype.IdentityChange
}

// Notifier tells the user about a sign-in when the browser is not opened
// for it (rate limit, no browser), and warns when a sign-in came back as
// another user. The tray implements it with desktop notifications
// (org.freedesktop.Notifications); it must not block long.
type Notifier interface {
	Notify(ctx context.Context, n Notice)
}

// Reacher is a Notifier that knows whether its notices reach a person
// now; a Notifier that is not one is taken to reach them.
type Reacher interface {
	ReachesPerson() bool
}

// LogNotifier writes notices to a log: the headless daemon's notifier. It
// skips identity changes, which the Manager logs itself.
type LogNotifier struct{ Log *slog.Logger }

// ReachesPerson implements Reacher: nobody is known to read the log.
func (LogNotifier) ReachesPerson() bool { return false }

// Notify implements Notifier.
func (l LogNotifier) Notify(_ context.Context, n Notice) {
	if l.Log == nil || n.IdentityChange != nil {
		return
	}
	if n.UserCode != "" {
		l.Log.Warn("sign-in needed: open the URL on any device and enter the code", "edge", n.Edge, "apps", n.Apps, "url", n.URL, "code", n.UserCode)
		return
	}
	l.Log.Warn("sign-in needed: open the URL in a browser", "edge", n.Edge, "apps", n.Apps, "url", n.URL)
}
