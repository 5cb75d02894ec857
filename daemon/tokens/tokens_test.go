package tokens

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStatic(t *testing.T) {
	if tok, err := Static("abc").Token(context.Background()); tok != "abc" || err != nil {
		t.Errorf("Static = %q, %v", tok, err)
	}
	if _, err := Static("").Token(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("empty Static err = %v, want ErrUnavailable", err)
	}
}

func TestFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tok")
	f := NewFile(path)
	if _, err := f.Token(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("missing file err = %v, want ErrUnavailable", err)
	}
	write := func(s string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Hour)
	write("first\n", t0)
	if tok, err := f.Token(ctx); tok != "first" || err != nil {
		t.Fatalf("Token = %q, %v", tok, err)
	}
	write("second", t0.Add(time.Second))
	if tok, err := f.Token(ctx); tok != "second" || err != nil {
		t.Fatalf("after rotation Token = %q, %v", tok, err)
	}
	write("  \n", t0.Add(2*time.Second))
	if _, err := f.Token(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("empty file err = %v, want ErrUnavailable", err)
	}
}
