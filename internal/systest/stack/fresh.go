package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlockhq/airlock/internal/testenv"
)

// StartFreshDaemon starts `airlock daemon` as a person's fresh install
// runs it: no configuration file, under home (HOME, with the XDG folders
// at their defaults below it) and a runtime folder beside it, so that
// `airlock join` writes everything. env adds to the daemon's (and the
// CLI's, see Env) environment. It returns once the control socket answers;
// the daemon then runs "not joined". Its control socket is Socket, not
// the default one: CLI verbs need --socket.
func (s *Stack) StartFreshDaemon(ctx context.Context, home string, env []string) error {
	run := filepath.Join(filepath.Dir(home), "run")
	for _, d := range []string{home, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	s.env = append([]string{
		"HOME=" + home,
		"XDG_RUNTIME_DIR=" + run,
		"XDG_CONFIG_HOME=", "XDG_STATE_HOME=", "XDG_CACHE_HOME=",
		"KUBECONFIG=",
		"KUBECACHEDIR=" + filepath.Join(filepath.Dir(home), "kubectl-cache"),
		// No session bus unless env names one: the daemon must not reach
		// the keyring of the user running the demo.
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(filepath.Dir(home), "no-session-bus"),
	}, env...)
	// A socket away from the default one: the daemon then writes it into
	// the exec plugin's arguments, so kubectl in any shell reaches it.
	s.Socket = filepath.Join(filepath.Dir(home), "airlock.sock")
	s.DaemonConfig = filepath.Join(home, ".config", "airlock", "config.yaml")
	s.Kubeconfig = filepath.Join(home, ".kube", "config")
	p, err := startProcess("daemon", s.opts.Log, s.env, filepath.Join(s.Bin, "airlock"), "daemon", "--socket", s.Socket)
	if err != nil {
		return err
	}
	s.Daemon = p
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if err := testenv.Poll(ctx, pollEvery, p.unlessExited(func() error {
		_, err := s.Client().Status(ctx)
		return err
	})); err != nil {
		return fmt.Errorf("the fresh daemon's socket %s: %w; output:\n%s", s.Socket, err, tail(p.Output()))
	}
	return nil
}
