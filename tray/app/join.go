package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
	"github.com/airlockhq/airlock/internal/backoff"
	"github.com/airlockhq/airlock/internal/joinlink"
)

// The tray opened for an airlock://join?edge=…&ca=… link (the desktop's
// URL handler runs `airlock LINK`): the link is untrusted (any page can
// hold one), so only a strict invitation is accepted, and all it can do
// is ask the daemon to join that edge, which then asks the person to sign
// in there in their browser, pinning the CA the link names.

// Bounds of a join from a link.
const (
	// linkJoinTimeout: the sign-in in the browser is most of it.
	linkJoinTimeout = 15 * time.Minute
	// daemonWait is how long a join waits for the daemon the tray starts.
	daemonWait = time.Minute
)

// isLink reports whether a command-line argument is meant as a link.
func isLink(arg string) bool {
	return strings.HasPrefix(strings.ToLower(arg), joinlink.Scheme+":")
}

// parseLinkArg parses the tray's link argument.
func parseLinkArg(arg string) (joinlink.Invite, error) {
	inv, err := joinlink.ParseLink(arg)
	if err != nil {
		return joinlink.Invite{}, fmt.Errorf("the link: %w", err)
	}
	return inv, nil
}

// joinFromLink asks the daemon to join inv's edge, waiting up to
// daemonWait for a daemon to answer first (the tray may have just
// started one), and logs the outcome.
func joinFromLink(ctx context.Context, c *client.Client, inv joinlink.Invite, log *slog.Logger) error {
	wctx, cancel := context.WithTimeout(ctx, daemonWait)
	err := waitDaemon(wctx, c)
	cancel()
	if err != nil {
		return fmt.Errorf("join %s: no daemon answers: %w", inv.Edge, err)
	}
	log.Info("joining the edge of a link: sign in in the browser", "edge", inv.Edge, "ca", inv.CA)
	jctx, cancel := context.WithTimeout(ctx, linkJoinTimeout)
	defer cancel()
	res, err := c.Join(jctx, apitype.JoinRequest{Invite: inv.Link()})
	if err != nil {
		return fmt.Errorf("join %s: %w", inv.Edge, err)
	}
	log.Info("joined the edge of a link", "edge", res.Edge, "already_joined", res.AlreadyJoined)
	return nil
}

// waitDaemon returns once the daemon answers, or with ctx's error.
func waitDaemon(ctx context.Context, c *client.Client) error {
	b := backoff.New(backoff.Config{Base: 100 * time.Millisecond, Max: 2 * time.Second})
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Status(sctx)
		cancel()
		if err == nil {
			return nil
		}
		if !client.IsNotRunning(err) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if werr := b.Wait(ctx); werr != nil {
			return fmt.Errorf("%w (last: %v)", werr, err)
		}
	}
}
