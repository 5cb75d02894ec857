package keychaintest

import (
	"testing"

	"github.com/godbus/dbus/v5"
)

// The gcr system prompter gnome-keyring asks to unlock a keyring.
const (
	prompterName  = "org.gnome.keyring.SystemPrompter"
	prompterPath  = "/org/gnome/keyring/Prompter"
	prompterIface = "org.gnome.keyring.internal.Prompter"
)

// silentPrompter accepts every prompt and never shows it: like a prompt on
// a display nobody looks at.
type silentPrompter struct{}

func (silentPrompter) BeginPrompting(dbus.ObjectPath) *dbus.Error { return nil }
func (silentPrompter) PerformPrompt(dbus.ObjectPath, string, map[string]dbus.Variant, string) *dbus.Error {
	return nil
}
func (silentPrompter) StopPrompting(dbus.ObjectPath) *dbus.Error { return nil }

// SilentPrompter owns the system prompter's name on the bus and accepts
// every unlock prompt without ever answering it, so an unlock of a locked
// keyring waits forever — as with a prompt on a display nobody looks at.
func (b *Bus) SilentPrompter(tb testing.TB) {
	tb.Helper()
	c := b.Conn(tb)
	if err := c.Export(silentPrompter{}, prompterPath, prompterIface); err != nil {
		tb.Fatalf("export the prompter: %v", err)
	}
	reply, err := c.RequestName(prompterName, dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		tb.Fatalf("own %s: %v (reply %v)", prompterName, err, reply)
	}
}
