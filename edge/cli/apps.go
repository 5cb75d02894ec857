package cli

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/internal/joinlink"
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

// cmdAppSet publishes an app's details for the people who join the edge.
func cmdAppSet(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("app set", stderr, "app set APP [--name N] [--display-name TEXT] [--kube-server URL] [--kube-ca-file F] [--kube-tls-server-name N]")
	var loc location
	loc.register(fs)
	fs.String("name", "", "the app's short `name`: people's kubeconfig entries are FLEET-NAME (default: the hostname's first label)")
	fs.String("display-name", "", "the `text` people's trays show (default: the name)")
	fs.String("kube-server", "", "the API server `URL` kubectl dials through Airlock, e.g. https://10.0.0.1:6443")
	fs.String("kube-ca-file", "", "PEM `file` of the CA of the API server's certificate (its content goes to people's kubeconfig)")
	fs.String("kube-tls-server-name", "", "the `name` to check the API server's certificate against, when not the URL's host")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("app set: give exactly one APP")
	}
	var s edge.AppSettings
	n := 0
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		p := &v
		switch f.Name {
		case "name":
			s.Name = p
		case "display-name":
			s.DisplayName = p
		case "kube-server":
			s.KubeServer = p
		case "kube-ca-file":
			if v != "" {
				if abs, err := filepath.Abs(v); err == nil {
					v = abs // the config resolves relative paths against its folder
				}
			}
			s.KubeCAFile = p
		case "kube-tls-server-name":
			s.KubeTLSServerName = p
		default:
			return
		}
		n++
	})
	if n == 0 {
		return usagef("app set: give at least one field to set")
	}
	if err := edge.SetApp(loc.path(), pos[0], s); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "set %d field(s) of app %s in %s; a running edge follows the file\n", n, pos[0], loc.path())
	return nil
}

// cmdInvite prints the invitation to join the edge.
func cmdInvite(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("invite", stderr, "invite [--public-url URL]")
	var loc location
	loc.register(fs)
	publicURL := fs.String("public-url", "", "the edge's public sign-in `URL` (default: public_url, else https://SERVER_NAME:HTTP_PORT)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("invite: unexpected argument %q", pos[0])
	}
	cfg, err := edge.LoadConfig(loc.path())
	if err != nil {
		return err
	}
	inv, err := cfg.Invite(*publicURL)
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	fmt.Fprintf(stdout, "Invitation to join %s (fleet %s):\n\n  link:    %s\n  command: %s\n", inv.Edge, cfg.Fleet(), inv.Link(), inv.Command())
	if inv.CA != "" {
		fmt.Fprintf(stdout, "  CA:      %s\n", inv.CA)
	} else {
		fmt.Fprintf(stdout, "  CA:      none (no tls.ca_file: the edge's certificate is from a CA the system trusts)\n")
	}
	fmt.Fprintf(stdout, "\nThe sign-in site shows the same at %s%s\n", inv.Edge, joinlink.ConnectPath)
	return nil
}
