package safesocket

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"xdg", map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}, "/run/user/1000/airlock"},
		{"unset", nil, "/tmp/airlock-" + strconv.Itoa(os.Getuid())},
		{"relative ignored", map[string]string{"XDG_RUNTIME_DIR": "run"}, "/tmp/airlock-" + strconv.Itoa(os.Getuid())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Dir(env(tt.env)); got != tt.want {
				t.Errorf("Dir = %q, want %q", got, tt.want)
			}
		})
	}
	if got := Path(env(nil)); filepath.Base(got) != SocketName {
		t.Errorf("Path = %q", got)
	}
}

func TestListenFixesModesAndRefusesSymlinks(t *testing.T) {
	base, err := os.MkdirTemp("", "airlock-ss-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)

	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	ln, err := Listen(filepath.Join(open, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(open)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v after Listen, want 0700", st.Mode().Perm())
	}
	if _, err := Listen(filepath.Join(open, SocketName)); !errors.As(err, new(*AlreadyRunningError)) {
		t.Errorf("second Listen = %v, want AlreadyRunningError", err)
	}
	ln.Close()
	if ln2, err := Listen(filepath.Join(open, SocketName)); err != nil {
		t.Errorf("Listen after Close = %v", err)
	} else {
		ln2.Close()
	}

	link := filepath.Join(base, "link")
	os.Symlink(open, link)
	if _, err := Listen(filepath.Join(link, SocketName)); err == nil {
		t.Error("Listen through a symlinked folder succeeded")
	}
}
