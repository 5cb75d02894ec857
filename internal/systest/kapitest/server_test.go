package kapitest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartProcessErrors(t *testing.T) {
	t.Run("not loopback", func(t *testing.T) {
		_, err := StartProcess(context.Background(), Options{Addr: "192.0.2.1", Binary: "/bin/true"})
		if err == nil || !strings.Contains(err.Error(), "not a loopback") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("process exits early", func(t *testing.T) {
		// sh refuses kube-apiserver's flags and exits at once.
		dir := t.TempDir()
		_, err := StartProcess(context.Background(), Options{Binary: "/bin/sh", Dir: dir})
		if !errors.Is(err, errExited) {
			t.Fatalf("err %v, want errExited", err)
		}
		if !strings.Contains(err.Error(), "--embedded-etcd-dir") {
			t.Errorf("error lacks the log tail: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "pki", "ca.crt")); err != nil {
			t.Errorf("given Dir not kept: %v", err)
		}
	})
	t.Run("temporary dir removed", func(t *testing.T) {
		tmp := t.TempDir()
		t.Setenv("TMPDIR", tmp)
		_, err := StartProcess(context.Background(), Options{Binary: "/bin/sh"})
		if err == nil {
			t.Fatal("no error")
		}
		left, _ := os.ReadDir(tmp)
		if len(left) != 0 {
			t.Errorf("left behind: %v", left)
		}
	})
	t.Run("missing binary", func(t *testing.T) {
		_, err := StartProcess(context.Background(), Options{Binary: filepath.Join(t.TempDir(), "nope"), Dir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("err %v", err)
		}
	})
}
