package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/internal/backoff"
)

// daemonStartWait bounds waiting for a daemon `airlock join` started.
const daemonStartWait = 15 * time.Second

// startDaemon starts `airlock daemon` in the background, detached from
// this terminal, its log in the state folder, for a machine where neither
// the session's unit nor the tray runs one yet; it returns once the daemon
// answers on c's socket, with the log's path.
func startDaemon(ctx context.Context, c *client.Client, getenv func(string) string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find this program to start the daemon: %w", err)
	}
	dir := filepath.Join(getenv("HOME"), ".local", "state", "airlock")
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		dir = filepath.Join(d, "airlock")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	logPath := filepath.Join(dir, "daemon.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command(exe, "daemon", "--socket", c.SocketPath())
	cmd.Stdout, cmd.Stderr = logf, logf
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start the daemon: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(ctx, daemonStartWait)
	defer cancel()
	b := backoff.New(backoff.Config{Base: 50 * time.Millisecond, Max: time.Second})
	for {
		if _, err := c.Status(ctx); err == nil {
			return logPath, nil
		} else if !client.IsNotRunning(err) && !errors.Is(err, context.DeadlineExceeded) {
			return logPath, err
		}
		select {
		case err := <-exited:
			return logPath, fmt.Errorf("the daemon exited at once (%v): see %s", err, logPath)
		case <-ctx.Done():
			return logPath, fmt.Errorf("the daemon did not answer within %s: see %s", daemonStartWait, logPath)
		case <-time.After(b.Next()):
		}
	}
}
