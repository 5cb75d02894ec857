package signin

import (
	"errors"
	"fmt"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/tokens"
)

// Errors callers match with errors.Is.
var (
	// ErrUnknownEdge: no edge of that name uses sign-in.
	ErrUnknownEdge = errors.New("no edge of that name uses sign-in")
	// ErrNoSignIn: no edge uses sign-in at all.
	ErrNoSignIn = errors.New("no cluster uses sign-in (every cluster has a service token)")
)

// Error is a sign-in failure. It wraps tokens.ErrUnavailable, so a SOCKS
// client whose stream needed the token gets "not allowed", and the cluster
// shows Error's message.
type Error struct {
	Edge string
	// Code is one of apitype's SignIn* problem codes, or "needed" when the
	// sign-in is still waiting for the user.
	Code string
	Msg  string
	Err  error
}

// CodeNeeded says the sign-in is still waiting for the user.
const CodeNeeded = "needed"

func (e *Error) Error() string {
	s := fmt.Sprintf("sign-in at edge %s: %s", e.Edge, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns tokens.ErrUnavailable and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{tokens.ErrUnavailable}
	}
	return []error{tokens.ErrUnavailable, e.Err}
}

// ProblemCode returns Code: the SOCKS server picks its reply by it.
func (e *Error) ProblemCode() string { return e.Code }

func (e *Error) problem() *apitype.Problem {
	if e.Code == CodeNeeded {
		return nil
	}
	msg := e.Msg
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return &apitype.Problem{Code: e.Code, Message: msg}
}

func errorf(edge, code string, err error, format string, args ...any) *Error {
	return &Error{Edge: edge, Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// errReplaced ends a flight that a newer sign-in (airlock login) replaced;
// its waiters move on to the new one.
var errReplaced = errors.New("replaced by a newer sign-in")

// errNoBrowser: an explicit login could not open the browser; it goes on
// with the device flow.
var errNoBrowser = errors.New("no browser could be opened")
