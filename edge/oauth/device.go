package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// deviceAuthorize starts a device authorization (RFC 8628 §3.1) for a
// client at addr.
func (s *Server) deviceAuthorize(ctx context.Context, addr string, aud []string) (*oidc.DeviceAuthorizationResponse, error) {
	st := s.cur.Load()
	if len(aud) > 0 {
		if _, perr := st.resolveAudience(aud); perr != nil {
			return nil, perr
		}
	}
	now := s.now()
	if ok, wait := s.limits.deviceCreate(addrKey(addr), now); !ok {
		retryAfter(ctx, wait)
		return nil, &protoError{http.StatusTooManyRequests, "slow_down", fmt.Sprintf("too many device authorizations from this address or in total; try again in %s", roundWait(wait))}
	}
	interval := int((s.interval + time.Second - 1) / time.Second)
	for range 5 { // a user code collision is retried
		dc := newSecret(devicePrefix)
		uc, err := newUserCode()
		if err != nil {
			return nil, err
		}
		d := Device{
			Key: key(dc), UserCode: uc, ClientID: ClientID, Audience: aud,
			Expires: now.Add(DeviceCodeTTL), Interval: interval, Status: DevicePending,
		}
		err = s.store.PutDevice(ctx, d)
		if errors.Is(err, ErrCodeUsed) {
			continue
		}
		if err != nil {
			s.log.Error("device code not stored", "err", err)
			return nil, &protoError{http.StatusServiceUnavailable, "temporarily_unavailable", "the edge could not store the device code"}
		}
		shown := formatUserCode(d.UserCode)
		return &oidc.DeviceAuthorizationResponse{
			DeviceCode: dc, UserCode: shown,
			VerificationURI:         st.PublicURL + "/device",
			VerificationURIComplete: st.PublicURL + "/device?user_code=" + url.QueryEscape(shown),
			ExpiresIn:               int(DeviceCodeTTL / time.Second),
			Interval:                interval,
		}, nil
	}
	return nil, &protoError{http.StatusServiceUnavailable, "temporarily_unavailable", "no free user code; try again"}
}

// tooMany sets Retry-After (whole seconds, rounded up) on a 429 page.
func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
}

// grantDevice is the token endpoint's device code grant (RFC 8628 §3.4).
func (s *Server) grantDevice(ctx context.Context, f url.Values, aud []string) (*tokenResponse, error) {
	dc := f.Get("device_code")
	if dc == "" {
		return nil, errInvalidRequest("device_code is missing")
	}
	now := s.now()
	var outcome *protoError
	d, err := s.store.UpdateDevice(ctx, key(dc), func(d *Device) error {
		switch {
		case !now.Before(d.Expires):
			outcome = &protoError{http.StatusBadRequest, "expired_token", "the device code expired; start again"}
		case d.Status == DeviceDenied:
			outcome = &protoError{http.StatusBadRequest, "access_denied", "the sign-in was denied in the browser"}
			if d.DenyReason != "" {
				outcome.Desc = d.DenyReason
			}
			d.Status = "" // answered once, then gone
		case d.Status == DevicePending:
			if !d.LastPoll.IsZero() && now.Sub(d.LastPoll) < time.Duration(d.Interval)*time.Second {
				d.Interval += 5
				outcome = &protoError{http.StatusBadRequest, "slow_down", fmt.Sprintf("poll at most every %d seconds", d.Interval)}
			} else {
				outcome = &protoError{http.StatusBadRequest, "authorization_pending", "waiting for the user to sign in at the verification URI"}
			}
			d.LastPoll = now
		case d.Status == DeviceApproved:
			d.Status = "" // one-time: the record goes
		}
		if outcome != nil && outcome.Code == "expired_token" {
			return outcome
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, errInvalidGrant("the device code is unknown (or was already used)")
	case outcome != nil:
		return nil, outcome
	case err != nil:
		return nil, err
	}
	if d.Identity == nil {
		return nil, errInvalidGrant("the device code is not approved")
	}
	if len(aud) == 0 {
		aud = d.Audience
	}
	resp, _, err := s.issue(ctx, *d.Identity, aud, d.ClientID, "")
	return resp, err
}

// devicePage asks for the user code (prefilled from ?user_code=).
func (s *Server) devicePage(w http.ResponseWriter, r *http.Request) {
	q, err := parseForm(r)
	if err != nil {
		s.message(w, http.StatusBadRequest, "Bad request", "The request is malformed.", err.Error())
		return
	}
	browser := s.browserID(w, r)
	s.render(w, http.StatusOK, "device", devicePage{CSRF: s.formToken("device", browser), UserCode: q.Get("user_code")})
}

// deviceSubmit takes the user code and starts the sign-in that approves
// it (or denies it).
func (s *Server) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	f, perr := parseForm(r)
	if perr != nil {
		s.message(w, http.StatusBadRequest, "Bad form", "The form did not arrive whole.", perr.Error())
		return
	}
	browser := cookieBrowser(r)
	if !s.checkFormToken("device", browser, f.Get("csrf")) {
		s.message(w, http.StatusForbidden, "Request refused", "The form did not come from this page in this browser (cross-site request refused). Open /device again.", "")
		return
	}
	again := func(msg string) {
		s.render(w, http.StatusBadRequest, "device", devicePage{CSRF: s.formToken("device", browser), UserCode: f.Get("user_code"), Error: msg})
	}
	code, err := normalizeUserCode(f.Get("user_code"))
	if err != nil {
		again("That is not a device code: " + err.Error() + ".")
		return
	}
	now := s.now()
	addr := addrKey(r.RemoteAddr)
	if ok, wait := s.limits.guessAllowed(addr, browser, now); !ok {
		s.log.Warn("device code guesses rate limited", "addr", addr)
		tooMany(w, wait)
		s.render(w, http.StatusTooManyRequests, "device", devicePage{CSRF: s.formToken("device", browser), UserCode: f.Get("user_code"),
			Error: fmt.Sprintf("Too many wrong codes. Try again in %s.", roundWait(wait))})
		return
	}
	d, err := s.store.DeviceByUserCode(r.Context(), code)
	if errors.Is(err, ErrNotFound) || err == nil && (!now.Before(d.Expires) || d.Status != DevicePending) {
		s.limits.guessFailed(addr, browser, now)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		again("No device is waiting for that code. Check it, or start again on the device.")
		return
	case err != nil:
		s.log.Error("device lookup failed", "err", err)
		s.message(w, http.StatusServiceUnavailable, "Try again", "The edge could not look up the code.", "")
		return
	case !now.Before(d.Expires):
		again("That code expired. Start again on the device.")
		return
	case d.Status != DevicePending:
		again("That code was already used.")
		return
	}
	// Deny, like approve, takes a signed-in person: a guessed code cannot
	// be denied by whoever guessed it.
	p := &pending{Browser: browser, DeviceKey: d.Key, UserCode: d.UserCode, Deny: f.Get("action") == "deny"}
	req, serr := s.sealPending(p, now)
	if serr != nil {
		s.message(w, http.StatusBadRequest, "Bad request", "The request is too large.", serr.Error())
		return
	}
	s.startLogin(w, r, *p, req, "")
}

// approveDevice approves the device code of p for id, or denies it when
// the policy allows id none of the apps it asked for: the person sees
// why, and the polling device gets access_denied with the same reasons.
func (s *Server) approveDevice(w http.ResponseWriter, r *http.Request, p pending, id Identity) {
	var refused *denial
	_, err := s.store.UpdateDevice(r.Context(), p.DeviceKey, func(d *Device) error {
		if d.Status != DevicePending || !s.now().Before(d.Expires) {
			return ErrExpired
		}
		if refused = s.refusedEverywhere(id, d.Audience); refused != nil {
			d.Status, d.DenyReason = DeviceDenied, refused.String()
			return nil
		}
		d.Status, d.Identity = DeviceApproved, &id
		return nil
	})
	if err != nil {
		s.message(w, http.StatusBadRequest, "Device code expired", "The device code expired or was used meanwhile. Start again on the device.", "")
		return
	}
	if refused != nil {
		s.deniedPage(w, refused)
		return
	}
	s.log.Info("device approved", "email", id.Email, "idp", id.IDP)
	s.message(w, http.StatusOK, "Device connected", fmt.Sprintf("Signed in as %s. You can close this tab and go back to the device.", id.Email), "")
}

// denyDevice denies the device code of p on behalf of id, who signed in.
func (s *Server) denyDevice(w http.ResponseWriter, r *http.Request, p pending, id Identity) {
	_, err := s.store.UpdateDevice(r.Context(), p.DeviceKey, func(d *Device) error {
		if d.Status != DevicePending || !s.now().Before(d.Expires) {
			return ErrExpired
		}
		d.Status = DeviceDenied
		return nil
	})
	if err != nil {
		s.message(w, http.StatusBadRequest, "Device code expired", "The device code expired or was used meanwhile.", "")
		return
	}
	s.log.Info("device denied", "email", id.Email, "idp", id.IDP)
	s.message(w, http.StatusOK, "Device denied", "The device was refused. It will not be signed in.", "")
}
