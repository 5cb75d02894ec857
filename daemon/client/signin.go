package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/airlockhq/airlock/daemon/apitype"
)

// Login starts a sign-in (see apitype.LoginRequest) and returns each
// edge's sign-in once it waits for the user (URL, and the code for the
// device flow) or has ended. Follow it with WaitSignIn.
func (c *Client) Login(ctx context.Context, req apitype.LoginRequest) ([]apitype.SignIn, error) {
	return c.signInCall(ctx, apitype.PathLogin, req)
}

// Logout signs out at req.Edge (every edge when empty): revocation at the
// edge when it answers, tokens deleted from every store and from memory.
func (c *Client) Logout(ctx context.Context, req apitype.LogoutRequest) ([]apitype.SignIn, error) {
	return c.signInCall(ctx, apitype.PathLogout, req)
}

func (c *Client) signInCall(ctx context.Context, path string, req any) ([]apitype.SignIn, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out apitype.SignInList
	if err := c.callBody(ctx, http.MethodPost, path, body, &out); err != nil {
		return nil, err
	}
	return out.SignIns, nil
}

// ErrSignInEnded is returned by WaitSignIn when the sign-in ended without
// success; the returned SignIn's Problem says why.
var ErrSignInEnded = errors.New("the sign-in ended without success")

// WaitSignIn follows the event stream while edge's sign-in waits for the
// user (sign_in_needed) and returns its outcome: the SignIn and nil once
// signed in, ErrSignInEnded when it ended otherwise (Problem says why), or
// ctx's error. progress, when set, sees every change on the way.
func (c *Client) WaitSignIn(ctx context.Context, edge string, progress func(apitype.SignIn)) (apitype.SignIn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := c.Watch(ctx)
	if err != nil {
		return apitype.SignIn{}, err
	}
	defer w.Close()
	stop := context.AfterFunc(ctx, func() { w.Close() })
	defer stop()
	var last apitype.SignIn
	for {
		ev, err := w.Next()
		if err != nil {
			if ctx.Err() != nil {
				return last, context.Cause(ctx)
			}
			return last, fmt.Errorf("the daemon's event stream ended: %w", err)
		}
		var si *apitype.SignIn
		switch ev.Type {
		case apitype.EventSignIn:
			si = ev.SignIn
		case apitype.EventStatus:
			if ev.Status != nil {
				if e := ev.Status.FindEdge(edge); e != nil {
					si = e.SignIn
				}
			}
		}
		if si == nil || si.Edge != edge {
			continue
		}
		if progress != nil {
			progress(*si)
		}
		last = *si
		switch {
		case si.State == apitype.SignInNeeded:
		case si.State == apitype.SignInSignedIn && (si.Problem == nil || si.Problem.Code == apitype.SignInStoreFailed):
			return *si, nil
		default:
			return *si, ErrSignInEnded
		}
	}
}
