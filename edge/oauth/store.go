package oauth

import (
	"context"
	"errors"
	"time"
)

// Errors of a [Store].
var (
	ErrNotFound = errors.New("not found")
	// ErrCodeUsed: the authorization code was redeemed before.
	ErrCodeUsed = errors.New("authorization code already used")
	// ErrRefreshReused: an already rotated refresh token came back; the
	// store has revoked its family.
	ErrRefreshReused = errors.New("refresh token already used")
	// ErrRevoked: the refresh token's family is revoked.
	ErrRevoked = errors.New("refresh token revoked")
	// ErrExpired: the record is past its expiry.
	ErrExpired = errors.New("expired")
)

// Identity is who signed in.
type Identity struct {
	Subject string   `json:"sub"`
	Email   string   `json:"email"`
	Groups  []string `json:"groups,omitempty"`
	IDP     string   `json:"idp"` // IDPUsers or IDPOIDC
	// Provider names the upstream provider (IDPOIDC; empty in records
	// older than oidc_providers: the single provider).
	Provider string `json:"provider,omitempty"`
}

// Code is an authorization code's record, stored under the SHA-256 of the
// code.
type Code struct {
	ClientID    string `json:"client_id"`
	RedirectURI string `json:"redirect_uri"`
	Challenge   string `json:"challenge"` // PKCE S256 code_challenge
	// Nonce is the authorization request's OpenID Connect nonce, for the
	// ID token.
	Nonce    string    `json:"nonce,omitempty"`
	Identity Identity  `json:"identity"`
	Expires  time.Time `json:"expires"`
	// Used is set when the code is redeemed, Family to what it issued.
	Used   bool   `json:"used,omitempty"`
	Family string `json:"family,omitempty"`
}

// Family is a refresh token family: every refresh token that descends
// from one sign-in. Only the SHA-256 of its current refresh token is
// kept (Current).
type Family struct {
	ID       string   `json:"id"`
	ClientID string   `json:"client_id"`
	Identity Identity `json:"identity"`
	// Audience is what the sign-in asked for (empty: every app).
	Audience []string  `json:"audience,omitempty"`
	Created  time.Time `json:"created"`
	// Expires is when the current refresh token lapses unused.
	Expires time.Time `json:"expires"`
	// Generation counts rotations; Current is the key of the current
	// refresh token.
	Generation int    `json:"generation"`
	Current    string `json:"current"`
	// Revoked is when the family was revoked (zero: it is live) and why.
	Revoked      time.Time `json:"revoked,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

// Device is a device authorization (RFC 8628), stored under the SHA-256
// of the device code.
type Device struct {
	Key      string    `json:"key"`       // the store key (SHA-256 of the device code)
	UserCode string    `json:"user_code"` // normalised: 8 letters, no dash
	ClientID string    `json:"client_id"`
	Audience []string  `json:"audience,omitempty"`
	Expires  time.Time `json:"expires"`
	Interval int       `json:"interval"` // seconds between polls
	LastPoll time.Time `json:"last_poll,omitzero"`
	Status   string    `json:"status"` // DevicePending, DeviceApproved, DeviceDenied
	Identity *Identity `json:"identity,omitempty"`
	// DenyReason says why a denied device was refused (empty: the
	// person pressed Deny).
	DenyReason string `json:"deny_reason,omitempty"`
}

// Device statuses.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
)

// Store keeps what must outlive a request: authorization codes, refresh
// token families and device authorizations. Keys are SHA-256 digests
// (hex) of the secrets; a store never sees a usable secret. Edges behind
// a balancer would share one Store; [OpenBoltStore] is the embedded one.
// Every method is safe for concurrent use.
type Store interface {
	// PutCode stores a new authorization code.
	PutCode(ctx context.Context, key string, c Code) error
	// RedeemCode marks the code used and returns it. A used code returns
	// its record and ErrCodeUsed; an expired one ErrExpired; an unknown
	// one ErrNotFound.
	RedeemCode(ctx context.Context, key string, now time.Time) (Code, error)
	// SetCodeFamily records the family a redeemed code issued.
	SetCodeFamily(ctx context.Context, key, family string) error

	// CreateFamily stores a new family whose current refresh token is
	// f.Current.
	CreateFamily(ctx context.Context, f Family) error
	// Rotate replaces the refresh token oldKey by newKey (valid until
	// expires) and returns the family. A key of an earlier generation
	// revokes the family and returns ErrRefreshReused; a revoked family
	// ErrRevoked; a lapsed one ErrExpired; an unknown key ErrNotFound.
	Rotate(ctx context.Context, oldKey, newKey string, now, expires time.Time) (Family, error)
	// FamilyByRefresh finds the family of a refresh token key (of any
	// generation).
	FamilyByRefresh(ctx context.Context, key string) (Family, error)
	// RevokeFamily revokes a family (revoking twice is fine).
	RevokeFamily(ctx context.Context, id string, at time.Time, reason string) error
	// RevokeUser revokes every live family of email created before
	// before, and returns their ids.
	RevokeUser(ctx context.Context, email string, before, at time.Time) ([]string, error)
	// RevokedSince returns the ids of families revoked at or after since.
	RevokedSince(ctx context.Context, since time.Time) ([]string, error)

	// PutDevice stores a new device authorization under d.Key; its user
	// code must be unused (ErrCodeUsed otherwise).
	PutDevice(ctx context.Context, d Device) error
	// UpdateDevice loads the device authorization of key, lets fn change
	// it and stores it, in one transaction. fn returning an error stores
	// nothing; fn setting Status to "" deletes the record.
	UpdateDevice(ctx context.Context, key string, fn func(*Device) error) (Device, error)
	// DeviceByUserCode finds a device authorization by its user code.
	DeviceByUserCode(ctx context.Context, userCode string) (Device, error)

	// Collect deletes what expired before now: device authorizations at
	// their expiry, codes keep after it (a replayed code still revokes
	// what it issued), revoked families keep after their revocation.
	Collect(ctx context.Context, now time.Time, keep time.Duration) error
	Close() error
}
