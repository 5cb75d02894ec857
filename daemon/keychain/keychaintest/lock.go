package keychaintest

import (
	"syscall"
	"testing"

	"github.com/godbus/dbus/v5"
)

// The Secret Service's names, and gnome-keyring's login collection.
const (
	secretsName     = "org.freedesktop.secrets"
	secretsPath     = "/org/freedesktop/secrets"
	serviceIface    = "org.freedesktop.Secret.Service"
	collectionIface = "org.freedesktop.Secret.Collection"
	// LoginCollection is the collection go-keyring stores in.
	LoginCollection = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")
	// gnome-keyring's own interface for unlocking with a password, the
	// way its unlock prompt does once a person typed it.
	internalIface = "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
)

// Lock locks the login collection through the Secret Service API
// (org.freedesktop.Secret.Service.Lock), as a screen lock or a person's
// "lock" does, and checks it is locked.
func (b *Bus) Lock(tb testing.TB) {
	tb.Helper()
	c := b.Conn(tb)
	var (
		locked []dbus.ObjectPath
		prompt dbus.ObjectPath
	)
	if err := c.Object(secretsName, secretsPath).Call(serviceIface+".Lock", 0, []dbus.ObjectPath{LoginCollection}).Store(&locked, &prompt); err != nil {
		tb.Fatalf("Secret Service Lock: %v", err)
	}
	if prompt != "/" || len(locked) != 1 {
		tb.Fatalf("Secret Service Lock: locked %v, prompt %s", locked, prompt)
	}
	if !b.Locked(tb) {
		tb.Fatal("the login collection is not locked after Lock")
	}
}

// Locked reports the login collection's Locked property.
func (b *Bus) Locked(tb testing.TB) bool {
	tb.Helper()
	c := b.Conn(tb)
	v, err := c.Object(secretsName, LoginCollection).GetProperty(collectionIface + ".Locked")
	if err != nil {
		tb.Fatalf("read Locked: %v", err)
	}
	locked, ok := v.Value().(bool)
	if !ok {
		tb.Fatalf("Locked is %v", v)
	}
	return locked
}

// secret is the Secret Service's Secret struct (oayays).
type secret struct {
	Session     dbus.ObjectPath
	Parameters  []byte
	Value       []byte
	ContentType string
}

// Unlock unlocks the login collection with its password, as gnome-keyring's
// unlock prompt does once a person typed it (gnome-keyring's
// UnlockWithMasterPassword over a plain session), and checks it is
// unlocked.
func (b *Bus) Unlock(tb testing.TB, password string) {
	tb.Helper()
	c := b.Conn(tb)
	svc := c.Object(secretsName, secretsPath)
	var (
		out     dbus.Variant
		session dbus.ObjectPath
	)
	if err := svc.Call(serviceIface+".OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&out, &session); err != nil {
		tb.Fatalf("OpenSession: %v", err)
	}
	master := secret{Session: session, Parameters: []byte{}, Value: []byte(password), ContentType: "text/plain"}
	if err := svc.Call(internalIface+".UnlockWithMasterPassword", 0, LoginCollection, master).Err; err != nil {
		tb.Fatalf("UnlockWithMasterPassword: %v", err)
	}
	if b.Locked(tb) {
		tb.Fatal("the login collection is still locked after the unlock")
	}
}

// Pause stops the keyring daemon (SIGSTOP): it takes calls and answers
// none, like a keychain waiting on a person.
func (k *Keyring) Pause(tb testing.TB) {
	tb.Helper()
	if err := k.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		tb.Fatalf("SIGSTOP gnome-keyring-daemon: %v", err)
	}
	tb.Cleanup(func() { k.cmd.Process.Signal(syscall.SIGCONT) })
}

// Resume continues a paused keyring daemon (SIGCONT).
func (k *Keyring) Resume(tb testing.TB) {
	tb.Helper()
	if err := k.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		tb.Fatalf("SIGCONT gnome-keyring-daemon: %v", err)
	}
}
