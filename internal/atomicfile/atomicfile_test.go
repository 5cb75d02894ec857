package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	tests := []struct {
		name string
		old  []byte // nil: no file before
		data []byte
		mode os.FileMode
	}{
		{"new file", nil, []byte("hello"), 0o600},
		{"replace", []byte("old contents that are longer"), []byte("new"), 0o644},
		{"empty", []byte("x"), nil, 0o600},
		// A secret written over a file others could read: the new file
		// has the mode asked for, not the old one's.
		{"tightens a readable file", []byte("old"), []byte("secret"), 0o600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if tc.old != nil {
				if err := os.WriteFile(p, tc.old, 0o666); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, 0o666); err != nil { // whatever the umask
					t.Fatal(err)
				}
			}
			if err := Write(p, tc.data, tc.mode); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p)
			if err != nil || string(got) != string(tc.data) {
				t.Fatalf("contents %q, %v; want %q", got, err, tc.data)
			}
			st, _ := os.Stat(p)
			if st.Mode().Perm() != tc.mode {
				t.Fatalf("mode %v, want %v", st.Mode().Perm(), tc.mode)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Fatalf("folder holds %d entries, want only the file", len(ents))
			}
		})
	}
}

func TestWriteFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A folder in the way of the rename makes it fail after the temporary
	// file was written.
	target := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, []byte("new"), 0o600); err == nil {
		t.Fatal("write over a non-empty folder succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("folder holds %d entries, want the old file and the folder (no temporary file)", len(ents))
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Fatalf("old file changed: %q", got)
	}
}
