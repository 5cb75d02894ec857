package app

import (
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/airlockhq/airlock/daemon/apitype"
)

func TestSignInNotes(t *testing.T) {
	edge := func(si *apitype.SignIn) *apitype.Status {
		return &apitype.Status{Edges: []apitype.Edge{{Name: "corp", SignIn: si}}}
	}
	signedOut := edge(&apitype.SignIn{Edge: "corp", State: apitype.SignInSignedOut})
	browser := edge(&apitype.SignIn{Edge: "corp", State: apitype.SignInNeeded, URL: "https://edge/oauth/authorize?x=1"})
	opened := edge(&apitype.SignIn{Edge: "corp", State: apitype.SignInNeeded, URL: "https://edge/oauth/authorize?x=1", BrowserOpened: true})
	device := edge(&apitype.SignIn{Edge: "corp", State: apitype.SignInNeeded, URL: "https://edge/device", UserCode: "WXYZ-1234", Device: true})
	other := edge(&apitype.SignIn{Edge: "corp", State: apitype.SignInNeeded, URL: "https://edge/oauth/authorize?x=2"})
	tests := []struct {
		name       string
		prev, next *apitype.Status
		want       []string // body fragments; nil: no note
		signIn     bool
	}{
		{"browser not opened", signedOut, browser, []string{"https://edge/oauth/authorize?x=1"}, true},
		{"browser opened: the page is there", signedOut, opened, nil, false},
		{"device flow: URL and code", signedOut, device, []string{"https://edge/device", "WXYZ-1234"}, false},
		{"same sign-in again", browser, browser, nil, false},
		{"a newer sign-in", browser, other, []string{"x=2"}, true},
		{"already waiting when the tray attached", nil, device, []string{"WXYZ-1234"}, false},
		{"signed in", browser, signedOut, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := notes(tt.prev, tt.next)
			if tt.want == nil {
				if len(ns) != 0 {
					t.Fatalf("notes %+v, want none", ns)
				}
				return
			}
			if len(ns) != 1 {
				t.Fatalf("notes %+v, want one", ns)
			}
			n := ns[0]
			if n.Key != "corp/signin" || !strings.Contains(n.Summary, "corp") || n.SignIn != tt.signIn || !n.Urgent {
				t.Errorf("note %+v", n)
			}
			for _, w := range tt.want {
				if !strings.Contains(n.Body, w) {
					t.Errorf("body %q lacks %q", n.Body, w)
				}
			}
		})
	}
}

func TestNotificationActions(t *testing.T) {
	var got []string
	d := newDBusNotifier(nil, "")
	d.onAction = func(n Note) { got = append(got, n.Key) }
	invoke := func(id uint32, key string) {
		if n, ok := d.signal(&dbus.Signal{Path: notifyPath, Name: notifyName + ".ActionInvoked", Body: []any{id, key}}); ok {
			d.onAction(n)
		}
	}
	closed := func(id uint32) {
		d.signal(&dbus.Signal{Path: notifyPath, Name: notifyName + ".NotificationClosed", Body: []any{id, uint32(2)}})
	}
	signIn := Note{Key: "corp/signin", SignIn: true}
	refused := Note{Key: "prod/refused"}

	t.Run("Sign in… and a click on the note", func(t *testing.T) {
		got = nil
		d.record(signIn, 1, 0)
		invoke(1, actionSignIn)
		invoke(1, actionDefault)
		if strings.Join(got, ",") != "corp/signin,corp/signin" {
			t.Errorf("actions %q", got)
		}
	})
	t.Run("a note without Sign in…, another program's note, an unknown action", func(t *testing.T) {
		got = nil
		d.record(refused, 2, 0)
		invoke(2, actionDefault)
		invoke(99, "open")
		invoke(1, "dismiss")
		if len(got) != 0 {
			t.Errorf("actions %q", got)
		}
	})
	t.Run("the signal overtakes Notify's reply", func(t *testing.T) {
		got = nil
		invoke(3, actionSignIn)
		d.record(Note{Key: "lab/signin", SignIn: true}, 3, 0)
		if strings.Join(got, ",") != "lab/signin" {
			t.Errorf("actions %q", got)
		}
	})
	t.Run("closed", func(t *testing.T) {
		got = nil
		closed(1)
		invoke(1, actionSignIn)
		d.record(Note{Key: "x"}, 4, 0) // an early entry for 1 must not fire on a later note
		if len(got) != 0 {
			t.Errorf("actions after close %q", got)
		}
	})
}
