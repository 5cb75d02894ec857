package dist_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/packaging/dist"
)

// TestCommandRejects covers the flag errors that stop before any build.
func TestCommandRejects(t *testing.T) {
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
			code := dist.Command(context.Background(), tc.args, dist.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return tc.env[k] }})
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !strings.HasPrefix(last, "airlock-dist: ") || !strings.Contains(last, tc.want) {
				t.Fatalf("exit %d, error line %q; want exit 1 and an error saying %q (stderr: %s)", code, last, tc.want, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("printed %q on a failure", stdout.String())
			}
		})
	}
}
