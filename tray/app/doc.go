// Package app is Airlock's tray: an icon and menu in the desktop's
// notification area (fyne.io/systray over D-Bus StatusNotifierItem and
// com.canonical.dbusmenu) that shows and drives the daemon through its
// control API client only.
//
// The tray attaches to a running daemon, or starts `airlock daemon` as a
// child process when none answers on the control socket and restarts it
// with backoff when it crashes. It never links the daemon's core: quic-go,
// the keychain and fsnotify stay out of this package (deps_test.go), so the
// keychain's D-Bus traffic never shares the tray's connection.
//
// The menu is rebuilt from the daemon's event stream, never polled: the
// signed-in user or "Sign in…", one item per cluster with its state and
// address (checked while its proxy is up; a click toggles it), "Connect
// all", "Disconnect all", "Copy proxy URL", "Open configuration", "Sign
// out" and "Quit". Clicks are forwarded from systray's channels at once
// and run one at a time on their own goroutine; a click that arrives while
// another one is still running is dropped (and logged), never queued.
//
// Desktop notifications (org.freedesktop.Notifications) say when sign-in
// is needed, access was refused or a cluster is unreachable, at most once
// per cluster and cause every few minutes. A sign-in the daemon did not
// open the browser for (its rate limit, no browser, the device flow) is
// told with its URL, and the code for the device flow; a browser
// sign-in's note offers "Sign in…", which signs in as the menu item does.
// They go over a private D-Bus connection, never the shared one systray
// uses (a match rule added there can stop systray from re-registering
// after a panel restart).
//
// Without a session bus the tray runs headless: it still starts or attaches
// to the daemon and logs each state change, and says why there is no icon.
// Without a StatusNotifierWatcher (GNOME without the AppIndicator
// extension) it says so once and keeps serving; systray registers the icon
// when a watcher appears later, and notifications work meanwhile.
//
// Quit ends the tray. A daemon the tray started as its child is asked to
// stop (SIGTERM: it gives the kubeconfig back and closes its proxies); a
// daemon the tray attached to keeps running. Run `airlock daemon` as a
// systemd user service to keep connections across tray restarts.
package app
