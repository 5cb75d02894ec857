package catalogue

import (
	"fmt"

	"github.com/airlockhq/airlock/internal/joinlink"
)

// Invite is what `airlock join` was given (internal/joinlink).
type Invite = joinlink.Invite

// ErrBadInvite is wrapped by every error of ParseInvite.
var ErrBadInvite = joinlink.ErrInvalid

// ParseInvite reads what `airlock join` takes (joinlink.Parse: a host
// name, an https URL or an airlock://join?… link); ca, when not empty, is
// the --ca flag, which must agree with a link's own.
func ParseInvite(s, ca string) (Invite, error) {
	inv, err := joinlink.Parse(s)
	if err != nil {
		return Invite{}, err
	}
	if ca == "" {
		return inv, nil
	}
	if err := joinlink.CheckFingerprint(ca); err != nil {
		return Invite{}, err
	}
	if inv.CA != "" && inv.CA != ca {
		return Invite{}, fmt.Errorf("%w: --ca differs from the invitation link's ca", ErrBadInvite)
	}
	inv.CA = ca
	return inv, nil
}
