package connector_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/connector"
)

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no credentials", []string{"--url", "tcp://127.0.0.1:1"}, "no credentials file"},
		{"ingress without =", []string{"--credentials", "x", "--ingress", "k8s.example.com"}, "--ingress #1"},
		{"bad second ingress", []string{"--credentials", "x", "--ingress", "a.example.com=tcp://x:1", "--ingress", "b"}, "--ingress #2"},
		{"stray argument", []string{"serve"}, `unexpected argument "serve"`},
		{"bad log level", []string{"--log-level", "loud"}, "--log-level"},
		{"bad log format", []string{"--log-format", "xml"}, "--log-format"},
		{"missing config", []string{"--config", "/nonexistent.yaml"}, "/nonexistent.yaml"},
		{"unknown flag", []string{"--nope"}, "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := connector.Command(context.Background(), tt.args, connector.Env{Stdout: io.Discard, Stderr: &stderr})
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !strings.HasPrefix(last, "airlock-connector: ") || !strings.Contains(last, tt.want) {
				t.Fatalf("exit %d, error line %q; want exit 1 and an error that mentions %q", code, last, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if code := connector.Command(context.Background(), []string{"--version"}, connector.Env{Stdout: &out, Stderr: io.Discard}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(out.String(), "airlock-connector ") {
		t.Fatalf("version %q", out.String())
	}
}
