package keychain

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Cause
	}{
		{"no dbus-launch", errors.New(`exec: "dbus-launch": executable file not found in $PATH`), CauseNoBus},
		{"dead bus socket", errors.New("dial unix /tmp/dbus-x: connect: connection refused"), CauseNoBus},
		{"no secret service", errors.New("The name org.freedesktop.secrets was not provided by any .service files"), CauseNoService},
		{"service unknown", errors.New("org.freedesktop.DBus.Error.ServiceUnknown"), CauseNoService},
		{"locked", errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"), CauseLocked},
		{"other", errBoom, CauseOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ue *UnavailableError
			if err := classify("get", tt.err); !errors.As(err, &ue) || ue.Cause != tt.want {
				t.Fatalf("classify(%v) = %v, want cause %s", tt.err, err, tt.want)
			}
			if ue.Describe() == "" {
				t.Error("no description")
			}
		})
	}
}

func TestOS(t *testing.T) {
	ctx := ctxT(t)
	t.Run("set get delete", func(t *testing.T) {
		kr := newFakeKeyring()
		o := NewOS("svc", time.Second, kr)
		if _, err := o.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
		}
		if err := o.Set(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
		if v, err := o.Get(ctx, "k"); err != nil || v != "v" {
			t.Fatalf("Get = %q, %v", v, err)
		}
		if err := o.Delete(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if err := o.Delete(ctx, "k"); err != nil {
			t.Fatalf("deleting a missing key: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		kr := newFakeKeyring()
		kr.block = make(chan struct{})
		t.Cleanup(func() { close(kr.block) })
		o := NewOS("svc", 50*time.Millisecond, kr)
		_, err := o.Get(ctx, "k")
		var ue *UnavailableError
		if !errors.As(err, &ue) || ue.Cause != CauseTimeout {
			t.Fatalf("Get on a blocked keyring: %v, want a timeout", err)
		}
	})
	t.Run("too big", func(t *testing.T) {
		o := NewOS("svc", time.Second, newFakeKeyring())
		if err := o.Set(ctx, "k", strings.Repeat("x", MaxValue+1)); !errors.Is(err, ErrTooBig) {
			t.Fatalf("Set of %d bytes: %v, want ErrTooBig", MaxValue+1, err)
		}
	})
	t.Run("bad keys", func(t *testing.T) {
		o := NewOS("svc", time.Second, newFakeKeyring())
		for _, k := range []string{"", strings.Repeat("k", 300)} {
			if err := o.Set(ctx, k, "v"); err == nil {
				t.Errorf("Set(%q) succeeded", k)
			}
		}
	})
}

func TestFile(t *testing.T) {
	ctx := ctxT(t)
	dir := filepath.Join(t.TempDir(), "state", "airlock")
	f := NewFile(filepath.Join(dir, TokenFileName))
	if _, err := f.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before any Set: %v", err)
	}
	if err := f.Set(ctx, "a", "1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set(ctx, "b", "2"); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"a": "1", "b": "2"} {
		if v, err := f.Get(ctx, k); err != nil || v != want {
			t.Errorf("Get(%s) = %q, %v; want %q", k, v, err, want)
		}
	}
	st, err := os.Stat(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", st.Mode().Perm())
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v, want 0700", st.Mode().Perm())
	}
	if err := f.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("folder holds %d entries, want only the token file (no temporary files left)", len(ents))
	}

	t.Run("loose folder is made private", func(t *testing.T) {
		os.Chmod(dir, 0o755)
		if err := f.Set(ctx, "c", "3"); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
			t.Errorf("folder mode %v, want 0700", st.Mode().Perm())
		}
	})
	t.Run("corrupt file is an error, and not overwritten", func(t *testing.T) {
		os.WriteFile(f.Path(), []byte("{not json"), 0o600)
		if _, err := f.Get(ctx, "b"); err == nil || !strings.Contains(err.Error(), f.Path()) {
			t.Fatalf("Get from a corrupt file: %v, want an error naming the file", err)
		}
		if err := f.Set(ctx, "b", "x"); err == nil {
			t.Fatal("Set over a corrupt file succeeded")
		}
		if data, _ := os.ReadFile(f.Path()); string(data) != "{not json" {
			t.Errorf("corrupt file was rewritten: %q", data)
		}
	})
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"empty", "", true},
		{"good", `{"version":1,"values":{"edge:a":"x"}}`, true},
		{"unknown field", `{"version":1,"values":{},"x":1}`, false},
		{"wrong version", `{"version":2,"values":{}}`, false},
		{"trailing", `{"version":1,"values":{}} {}`, false},
		{"empty key", `{"version":1,"values":{"":"x"}}`, false},
		{"big value", fmt.Sprintf(`{"version":1,"values":{"k":%q}}`, strings.Repeat("x", MaxValue+1)), false},
		{"not an object", `[]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFile([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("parseFile(%q) error %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func FuzzParseFile(f *testing.F) {
	for _, s := range []string{"", `{"version":1,"values":{"edge:a":"x"}}`, `{"version":1}`, `{"version":1,"values":{"":""}}`, "null", `{"values":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := parseFile(data)
		if err != nil {
			return
		}
		out, err := marshalFile(vals)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseFile(out)
		if err != nil || len(back) != len(vals) {
			t.Fatalf("round trip: %v (%d vs %d values)", err, len(back), len(vals))
		}
	})
}

func FuzzParseChoice(f *testing.F) {
	for _, s := range []string{`{"store":"file","cause":"timeout","reason":"x","since":"2024-01-01T00:00:00Z"}`, `{"store":"keychain","since":"2024-01-01T00:00:00Z"}`, `{"store":"x"}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseChoice(data)
		if err != nil {
			return
		}
		if c.Store != KindFile && c.Store != KindKeychain {
			t.Fatalf("accepted store %q", c.Store)
		}
	})
}
