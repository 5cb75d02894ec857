package signin

import (
	"context"
	"log/slog"
)

// Notice tells the user a sign-in waits for them.
type Notice struct {
	Edge string
	// Apps are the app hostnames the sign-in is for.
	Apps []string
	// URL is where to sign in; UserCode the code to enter there (device
	// flow).
	URL, UserCode string
	// BrowserOpened says the browser was opened at URL already.
	BrowserOpened bool
}

// Notifier tells the user about a sign-in when the browser is not opened
// for it (rate limit, no browser). The tray implements it with desktop
// notifications (org.freedesktop.Notifications); it must not block long.
type Notifier interface {
	Notify(ctx context.Context, n Notice)
}

// LogNotifier writes notices to a log: the headless daemon's notifier.
type LogNotifier struct{ Log *slog.Logger }

// Notify implements Notifier.
func (l LogNotifier) Notify(_ context.Context, n Notice) {
	if l.Log == nil {
		return
	}
	if n.UserCode != "" {
		l.Log.Warn("sign-in needed: open the URL on any device and enter the code", "edge", n.Edge, "apps", n.Apps, "url", n.URL, "code", n.UserCode)
		return
	}
	l.Log.Warn("sign-in needed: open the URL in a browser", "edge", n.Edge, "apps", n.Apps, "url", n.URL)
}
