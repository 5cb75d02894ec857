package cli

import (
	"fmt"
	"io"

	"github.com/airlockhq/airlock/edge"
)

// cmdAppKubeAuth prints the kube-apiserver AuthenticationConfiguration of
// an app whose cluster trusts the edge as its OIDC issuer.
func cmdAppKubeAuth(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("app kube-auth", stderr, "app kube-auth APP [--issuer URL]")
	var loc location
	loc.register(fs)
	issuer := fs.String("issuer", "", "the edge's public sign-in `URL` (default: public_url, else https://SERVER_NAME:HTTP_PORT)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("app kube-auth: give exactly one APP")
	}
	cfg, err := edge.LoadConfig(loc.path())
	if err != nil {
		return err
	}
	out, err := cfg.KubeAuthConfig(pos[0], *issuer)
	if err != nil {
		return fmt.Errorf("app kube-auth: %w", err)
	}
	_, err = stdout.Write(out)
	return err
}
