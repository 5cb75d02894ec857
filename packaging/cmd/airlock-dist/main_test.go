package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunRejects covers the flag errors that stop before any build.
func TestRunRejects(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"extra argument", []string{"now"}, nil, `unexpected argument "now"`},
		{"target without arch", []string{"-targets", "linux"}, nil, `"linux": want OS-ARCH`},
		{"no output folder", []string{"-out", ""}, nil, "no output folder"},
		{"unknown target", []string{"-out", "OUT", "-targets", "plan9-386"}, nil, "target plan9-386"},
		{"cert without key", nil, map[string]string{"AIRLOCK_SIGN_CERT": "/nonexistent/cert.pem"}, "needs its key"},
		{"unknown flag", []string{"-sign"}, nil, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			for i, a := range tc.args {
				if a == "OUT" {
					tc.args[i] = t.TempDir()
				}
			}
			err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q (stderr: %s)", err, tc.want, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("printed %q on a failure", stdout.String())
			}
		})
	}
}
