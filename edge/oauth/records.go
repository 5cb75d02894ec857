package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxRecord bounds one stored record; a larger one is corrupt.
const maxRecord = 64 << 10

// refreshEntry is the refresh-token index: key → family and generation.
type refreshEntry struct {
	Family     string `json:"family"`
	Generation int    `json:"generation"`
}

// decodeRecord decodes a stored JSON record strictly (unknown fields,
// trailing data and oversize records are errors) and checks it with
// valid. Store records are untrusted bytes: a damaged file must give an
// error, never a panic or a half-filled record.
func decodeRecord[T any](b []byte, valid func(*T) error) (*T, error) {
	if len(b) > maxRecord {
		return nil, fmt.Errorf("record is %d bytes, limit %d", len(b), maxRecord)
	}
	var v T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode record: trailing data")
	}
	if err := valid(&v); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	return &v, nil
}

func validIdentity(id *Identity) error {
	if id.Subject == "" && id.Email == "" {
		return errors.New("identity has neither subject nor email")
	}
	if id.IDP != IDPUsers && id.IDP != IDPOIDC {
		return fmt.Errorf("identity provider %q is unknown", id.IDP)
	}
	return nil
}

func validCode(c *Code) error {
	if c.ClientID == "" || c.RedirectURI == "" || c.Challenge == "" || c.Expires.IsZero() {
		return errors.New("code lacks client, redirect URI, challenge or expiry")
	}
	return validIdentity(&c.Identity)
}

func validFamily(f *Family) error {
	if f.ID == "" || f.ClientID == "" || f.Current == "" || f.Expires.IsZero() || f.Generation < 0 {
		return errors.New("family lacks id, client, current token or expiry")
	}
	return validIdentity(&f.Identity)
}

func validRefresh(r *refreshEntry) error {
	if r.Family == "" || r.Generation < 0 {
		return errors.New("refresh entry lacks its family")
	}
	return nil
}

func validDevice(d *Device) error {
	if d.Key == "" || d.UserCode == "" || d.ClientID == "" || d.Expires.IsZero() || d.Interval <= 0 {
		return errors.New("device authorization lacks key, user code, client, expiry or interval")
	}
	switch d.Status {
	case DevicePending, DeviceDenied:
	case DeviceApproved:
		if d.Identity == nil {
			return errors.New("approved device authorization has no identity")
		}
		return validIdentity(d.Identity)
	default:
		return fmt.Errorf("device status %q is unknown", d.Status)
	}
	return nil
}

func encodeRecord(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return b, nil
}
