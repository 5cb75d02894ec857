package kapitest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLdflags(t *testing.T) {
	f := ldflags()
	for _, want := range []string{
		"-X k8s.io/component-base/version.gitVersion=" + Version,
		"-X k8s.io/client-go/pkg/version.gitVersion=" + Version,
		"-X k8s.io/component-base/version.gitMajor=1",
		"-X k8s.io/component-base/version.gitMinor=37",
	} {
		if !strings.Contains(f, want) {
			t.Errorf("ldflags %q lack %q", f, want)
		}
	}
}

func TestSourceKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module x\n")
	write("main.go", "package main\n")
	top, sub := []string{"."}, []string{"kubelet"}
	keys := func() (string, string) {
		t.Helper()
		a, err := sourceKey(dir, top)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sourceKey(dir, sub)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	prevTop, prevSub := keys()
	tests := []struct {
		name, file, data string
		sameTop, sameSub bool
	}{
		{"test file ignored", "main_test.go", "package main\n", true, true},
		{"readme ignored", "README", "hi", true, true},
		{"go file counts for its folder", "etcd.go", "package main\n", false, true},
		{"go.sum counts for both", "go.sum", "x v1 h1:\n", false, false},
		{"sub-folder file counts for its own key", "kubelet/pods.go", "package kubelet\n", true, false},
		{"deeper sub-folder counts too", "kubelet/x/y.go", "package x\n", true, false},
		{"test in sub-folder ignored", "kubelet/pods_test.go", "package kubelet\n", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.file, tc.data)
			kt, ks := keys()
			if (kt == prevTop) != tc.sameTop || (ks == prevSub) != tc.sameSub {
				t.Errorf("after %s: top key same=%v, sub key same=%v; want %v, %v", tc.file, kt == prevTop, ks == prevSub, tc.sameTop, tc.sameSub)
			}
			prevTop, prevSub = kt, ks
		})
	}
}

func TestSourceDirFound(t *testing.T) {
	d, err := sourceDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "main.go")); err != nil {
		t.Fatal(err)
	}
}

func TestBuildEnv(t *testing.T) {
	t.Run("bin overrides", func(t *testing.T) {
		t.Setenv(EnvBin, "/opt/kube-apiserver")
		got, err := Build(context.Background(), nil)
		if err != nil || got != "/opt/kube-apiserver" {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("cached binary is reused", func(t *testing.T) {
		t.Setenv(EnvBin, "")
		root := t.TempDir()
		t.Setenv(EnvCache, root)
		src, err := sourceDir()
		if err != nil {
			t.Fatal(err)
		}
		key, err := sourceKey(src, apiServerProgram.dirs)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(root, Version+"-"+key, binName("kube-apiserver"))
		if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		var log strings.Builder
		got, err := Build(context.Background(), &log)
		if err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
		if log.Len() != 0 {
			t.Errorf("progress printed for a cached binary: %q", log.String())
		}
	})
}
