package cli

import (
	"fmt"
	"io"

	"github.com/airlockhq/airlock/edge"
)

func cmdTunnelRotate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tunnel rotate", stderr, "tunnel rotate NAME [--credentials-file F] [flags]")
	var loc location
	loc.register(fs)
	credsFile := fs.String("credentials-file", "", "where to write the new connector credentials (default DIR/tunnels/NAME.json)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("tunnel rotate: give exactly one tunnel NAME")
	}
	rt, err := edge.RotateTunnel(loc.path(), pos[0], edge.RotateOptions{CredentialsFile: *credsFile})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rotated the secret of tunnel %s (id %s)\n  credentials: %s\n", pos[0], rt.Credentials.TunnelID, rt.CredentialsFile)
	fmt.Fprintf(stdout, "a running edge drops every connection that used the old secret once it reloads %s (it follows the file)\n", loc.path())
	fmt.Fprintf(stdout, "next: give the new credentials file to each connector of the tunnel and restart it\n")
	return nil
}
