package benchnet_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no mode", nil},
		{"unknown mode", []string{"sideways"}},
		{"unknown flag", []string{"origin", "-colour", "red"}},
		{"extra argument", []string{"origin", "now"}},
		{"exit without origin", []string{"exit", "-cert", "c", "-key", "k"}},
		{"entry without next", []string{"entry", "-ca", "c"}},
		{"relay without ca", []string{"relay", "-next", "127.0.0.1:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := benchnet.Command(context.Background(), tt.args, io.Discard, slog.New(slog.DiscardHandler))
			if !errors.Is(err, benchnet.ErrUsage) {
				t.Fatalf("benchnet.Command(%q) = %v, want a usage error", tt.args, err)
			}
		})
	}
}

// TestRunOrigin runs the origin mode, reads its address from the ready
// line, asks for an echo and stops it with its context.
func TestRunOrigin(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- benchnet.Command(ctx, []string{"origin", "-listen", "127.0.0.1:0"}, pw, slog.New(slog.DiscardHandler))
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		t.Fatalf("ready line %q does not start with %q", line, "listening ")
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ectx, ecancel := context.WithTimeout(ctx, 10*time.Second)
	defer ecancel()
	if err := benchnet.Echo(ectx, c); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("origin returned %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("origin did not stop within 10s of its context ending")
	}
}
