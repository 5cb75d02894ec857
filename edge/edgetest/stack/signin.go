package stack

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// SignIn makes the demo cluster sign in at the edge (its built-in user
// list) instead of presenting a service token.
type SignIn struct {
	// Users are added to the edge's built-in user list.
	Users []User
	// Browser is the daemon's `browser:` command: it gets the sign-in URL
	// (a test's script that hands it to the test).
	Browser string
	// Wait and BrowserInterval are the daemon's sign_in settings; zero
	// means the daemon's defaults (BrowserInterval 0 is not expressible:
	// use time.Nanosecond for "always").
	Wait, BrowserInterval time.Duration
}

// User is a built-in user of the edge.
type User struct {
	Email, Password string
	Groups          []string
}

// AddUser adds (or updates) a built-in user with `airlock-edge user add`;
// the running edge reloads its config on its own.
func (s *Stack) AddUser(ctx context.Context, u User) error {
	args := []string{"user", "add", u.Email, "--password-stdin", "--dir", s.EdgeDir}
	for _, g := range u.Groups {
		args = append(args, "--group", g)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.Bin, "airlock-edge"), args...)
	cmd.Stdin = strings.NewReader(u.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("airlock-edge user add %s: %w: %s", u.Email, err, out)
	}
	return nil
}

// signInConfig is the daemon config's top-level sign-in part and the
// edge's auth_url line.
func (s *Stack) signInConfig() (top, edge string) {
	si := s.opts.SignIn
	if si == nil {
		return "", ""
	}
	edge = fmt.Sprintf("    auth_url: %q\n", s.AuthURL)
	if si.Browser != "" {
		top += fmt.Sprintf("browser: %q\n", si.Browser)
	}
	if si.Wait > 0 || si.BrowserInterval > 0 {
		top += "sign_in:\n"
		if si.Wait > 0 {
			top += fmt.Sprintf("  wait: %s\n", si.Wait)
		}
		if si.BrowserInterval > 0 {
			top += fmt.Sprintf("  browser_interval: %s\n", si.BrowserInterval)
		}
	}
	return top, edge
}
