package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/airlockhq/airlock/edge"
)

func cmdTokenList(args []string, stdout, stderr io.Writer) error {
	path, _, err := parseLocated("token list", "", args, stderr)
	if err != nil {
		return err
	}
	recs, err := edge.ListTokens(path)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		fmt.Fprintf(stdout, "no service tokens recorded in %s\n", path)
		return nil
	}
	printTokens(stdout, recs, time.Now())
	return nil
}

// printTokens writes one row per record: id, subject, app, expiry (marked
// when past), revocation (when and by which command, or "no") and note.
func printTokens(w io.Writer, recs []edge.ServiceToken, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSUBJECT\tAPP\tEXPIRES\tREVOKED\tNOTE")
	for _, t := range recs {
		expires := t.Expires.UTC().Format(time.RFC3339)
		if !now.Before(t.Expires) {
			expires += " (expired)"
		}
		revoked := "no"
		if !t.Revoked.IsZero() {
			revoked = fmt.Sprintf("%s (%s)", t.Revoked.UTC().Format(time.RFC3339), t.RevokedBy)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Email, t.App, expires, revoked, t.Note)
	}
	tw.Flush()
}

func cmdTokenRevoke(args []string, stdout, stderr io.Writer) error {
	path, pos, err := parseLocated("token revoke", "ID", args, stderr)
	if err != nil {
		return err
	}
	now := time.Now()
	t, revoked, err := edge.RevokeToken(path, pos[0], now)
	if err != nil {
		return err
	}
	switch {
	case !now.Before(t.Expires):
		fmt.Fprintf(stdout, "service token %s of %s expired at %s; the edge refuses it already\n", t.ID, t.Email, t.Expires.UTC().Format(time.RFC3339))
	case !revoked:
		fmt.Fprintf(stdout, "service token %s of %s was already revoked at %s (%s)\n", t.ID, t.Email, t.Revoked.UTC().Format(time.RFC3339), t.RevokedBy)
	default:
		fmt.Fprintf(stdout, "revoked service token %s of %s for app %s: a running edge refuses it on its next connection\n", t.ID, t.Email, t.App)
	}
	return nil
}
