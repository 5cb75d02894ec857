package desktop

import "testing"

func TestSessionBusAddress(t *testing.T) {
	dir := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if a, err := SessionBusAddress(env(map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x"})); err != nil || a != "unix:path=/x" {
		t.Errorf("%q %v", a, err)
	}
	if _, err := SessionBusAddress(env(map[string]string{"XDG_RUNTIME_DIR": dir})); err == nil {
		t.Error("no bus socket: no error")
	}
	if _, err := SessionBusAddress(env(map[string]string{"DBUS_SESSION_BUS_ADDRESS": "disabled:"})); err == nil {
		t.Error("disabled: no error")
	}
}
