package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// WaitEdgeServes polls GET AuthURL+path on the edge's sign-in server until
// ok accepts the response body (ok returns nil), or ctx ends: it is how a
// test sees the edge has reloaded a changed config.
func (s *Stack) WaitEdgeServes(ctx context.Context, path string, ok func(body []byte) error) error {
	hc, err := s.SignInClient()
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	return testenv.Poll(ctx, 50*time.Millisecond, func() error {
		res, err := hc.Get(s.AuthURL + path)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		if err != nil {
			return err
		}
		return ok(body)
	})
}

// TrustEdgeAsIssuer installs the AuthenticationConfiguration `airlock-edge
// app kube-auth APP` prints in the stack's kube-apiserver, which must have
// been started with kapitest.Options.JWTAuthn, and returns once the API
// server has loaded it: from then on it accepts the edge's tokens for the
// app's audience (the edge's config must name the app's OIDC audience and
// a public URL the API server reaches, such as AuthURL).
func (s *Stack) TrustEdgeAsIssuer(ctx context.Context) error {
	if s.KubeAPI == nil {
		return errors.New("stack: no kube-apiserver (Options.Origin was given)")
	}
	authn, err := s.EdgeCLI(ctx, "app", "kube-auth", s.App)
	if err != nil {
		return err
	}
	return s.KubeAPI.SetAuthentication(ctx, authn)
}

// inviteLink finds the join link in `airlock-edge invite`'s output.
var inviteLink = regexp.MustCompile(`airlock://join\?\S+`)

// Invite returns the invitation link `airlock-edge invite --public-url
// AuthURL` prints, what a person gives `airlock join`.
func (s *Stack) Invite(ctx context.Context) (string, error) {
	out, err := s.EdgeCLI(ctx, "invite", "--public-url", s.AuthURL)
	if err != nil {
		return "", err
	}
	link := inviteLink.FindString(out)
	if link == "" {
		return "", fmt.Errorf("airlock-edge invite printed no link:\n%s", out)
	}
	return link, nil
}
