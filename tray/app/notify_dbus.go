package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/airlockhq/airlock/internal/desktop"
	"github.com/godbus/dbus/v5"
)

// dbusNotifier sends notes to org.freedesktop.Notifications over its own
// private session-bus connection (never the shared dbus.SessionBus() that
// systray uses), replacing the previous note with the same key, and
// reports the actions the user chooses on them (run).
type dbusNotifier struct {
	conn *dbus.Conn
	icon string // an icon file path, or ""

	mu       sync.Mutex
	ids      map[string]uint32 // note key → the server's id
	shown    map[uint32]Note   // id → the note, while it may be acted on
	early    map[uint32]early  // actions on ids whose Notify has not returned yet
	onAction func(Note)        // set by listen
}

// early is an action on an id not known yet: other programs' notes share
// the signal, so it is kept only briefly.
type early struct {
	key string
	at  time.Time
}

// earlyFor is how long an action on an unknown id is kept.
const earlyFor = 5 * time.Second

const (
	notifyName = desktop.NotifyName
	notifyPath = "/org/freedesktop/Notifications"

	// actionSignIn is the action key of "Sign in…"; "default" is what
	// servers invoke when the note itself is clicked.
	actionSignIn  = "signin"
	actionDefault = "default"
)

func newDBusNotifier(conn *dbus.Conn, icon string) *dbusNotifier {
	return &dbusNotifier{conn: conn, icon: icon, ids: map[string]uint32{}, shown: map[uint32]Note{}, early: map[uint32]early{}}
}

func (d *dbusNotifier) Notify(n Note) error {
	d.mu.Lock()
	replaces := d.ids[n.Key]
	d.mu.Unlock()
	urgency := byte(1)
	if n.Urgent {
		urgency = 2
	}
	hints := map[string]dbus.Variant{
		"urgency":       dbus.MakeVariant(urgency),
		"desktop-entry": dbus.MakeVariant("airlock"),
	}
	actions := []string{}
	if n.SignIn {
		actions = []string{actionDefault, "Sign in…", actionSignIn, "Sign in…"}
	}
	var id uint32
	call := d.conn.Object(notifyName, notifyPath).Call(notifyName+".Notify", 0,
		"Airlock", replaces, d.icon, n.Summary, n.Body, actions, hints, int32(-1))
	if err := call.Store(&id); err != nil {
		return fmt.Errorf("desktop notification: %w", err)
	}
	d.record(n, id, replaces)
	return nil
}

// record remembers that the server shows n as id (in place of replaces),
// and runs an action the user chose on it before Notify returned.
func (d *dbusNotifier) record(n Note, id, replaces uint32) {
	d.mu.Lock()
	if replaces != 0 && replaces != id {
		delete(d.shown, replaces)
	}
	d.ids[n.Key] = id
	d.shown[id] = n
	e, found := d.early[id]
	delete(d.early, id)
	onAction := d.onAction
	d.mu.Unlock()
	if found && onAction != nil && acts(n, e.key) {
		// The signal overtook the reply to Notify.
		onAction(n)
	}
}

// acts reports whether action key on n is one to run.
func acts(n Note, key string) bool {
	return n.SignIn && (key == actionSignIn || key == actionDefault)
}

// listen subscribes to the server's action signals, to be handed to
// onAction by run; call it before the first Notify, so that no choice is
// missed.
func (d *dbusNotifier) listen(onAction func(Note)) (<-chan *dbus.Signal, error) {
	d.mu.Lock()
	d.onAction = onAction
	d.mu.Unlock()
	for _, member := range []string{"ActionInvoked", "NotificationClosed"} {
		err := d.conn.AddMatchSignal(dbus.WithMatchObjectPath(notifyPath), dbus.WithMatchInterface(notifyName), dbus.WithMatchMember(member))
		if err != nil {
			return nil, fmt.Errorf("notification actions: %w", err)
		}
	}
	ch := make(chan *dbus.Signal, 16)
	d.conn.Signal(ch)
	return ch, nil
}

// run calls listen's onAction with the note whose action the user chose
// (its "Sign in…" or a click on it), from the signals listen returned,
// until ctx ends.
func (d *dbusNotifier) run(ctx context.Context, ch <-chan *dbus.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case sig, ok := <-ch:
			if !ok {
				return
			}
			if n, ok := d.signal(sig); ok && d.onAction != nil {
				d.onAction(n)
			}
		}
	}
}

// signal handles one signal of the notification server and returns the
// note to act on, if any.
func (d *dbusNotifier) signal(sig *dbus.Signal) (Note, bool) {
	if sig.Path != notifyPath || len(sig.Body) < 2 {
		return Note{}, false
	}
	id, ok := sig.Body[0].(uint32)
	if !ok {
		return Note{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n, known := d.shown[id]
	switch sig.Name {
	case notifyName + ".NotificationClosed":
		delete(d.shown, id)
		return Note{}, false
	case notifyName + ".ActionInvoked":
		key, _ := sig.Body[1].(string)
		if !known {
			now := time.Now()
			for old, e := range d.early {
				if now.Sub(e.at) > earlyFor {
					delete(d.early, old)
				}
			}
			d.early[id] = early{key: key, at: now} // Notify's reply may still be on its way
			return Note{}, false
		}
		return n, acts(n, key)
	}
	return Note{}, false
}
