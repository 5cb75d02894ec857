package postgres

import (
	"errors"
	"fmt"

	"github.com/airlockhq/airlock/edge/oauth"
)

// These checks are the oauth package's own (validCode, validFamily,
// validDevice in edge/oauth/records.go), which it does not export: a
// store refuses to keep, and reports on reading, a record the server
// could not use. When oauth exports them, these go.

func validIdentity(id *oauth.Identity) error {
	if id.Subject == "" && id.Email == "" {
		return errors.New("identity has neither subject nor email")
	}
	if id.IDP != oauth.IDPUsers && id.IDP != oauth.IDPOIDC {
		return fmt.Errorf("identity provider %q is unknown", id.IDP)
	}
	return nil
}

func validCode(c *oauth.Code) error {
	if c.ClientID == "" || c.RedirectURI == "" || c.Challenge == "" || c.Expires.IsZero() {
		return errors.New("code lacks client, redirect URI, challenge or expiry")
	}
	return validIdentity(&c.Identity)
}

func validFamily(f *oauth.Family) error {
	if f.ID == "" || f.ClientID == "" || f.Current == "" || f.Expires.IsZero() || f.Generation < 0 {
		return errors.New("family lacks id, client, current token or expiry")
	}
	return validIdentity(&f.Identity)
}

func validDevice(d *oauth.Device) error {
	if d.Key == "" || d.UserCode == "" || d.ClientID == "" || d.Expires.IsZero() || d.Interval <= 0 {
		return errors.New("device authorization lacks key, user code, client, expiry or interval")
	}
	switch d.Status {
	case oauth.DevicePending, oauth.DeviceDenied:
	case oauth.DeviceApproved:
		if d.Identity == nil {
			return errors.New("approved device authorization has no identity")
		}
		return validIdentity(d.Identity)
	default:
		return fmt.Errorf("device status %q is unknown", d.Status)
	}
	return nil
}
