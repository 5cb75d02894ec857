package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/client"
)

// loginCmd runs `airlock login [--device] [EDGE]`: it starts a sign-in at
// EDGE (every sign-in edge when omitted), says where to sign in, and waits
// until it completes.
func loginCmd(ctx context.Context, args []string, env Env) int {
	fs, newClient := flags("login", env)
	device := fs.Bool("device", false, "sign in on another device: print a URL and a code instead of opening a browser here")
	timeout := fs.Duration("timeout", 15*time.Minute, "how long to wait for the sign-in")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock login [--device] [--timeout D] [--socket PATH] [EDGE]")
		fmt.Fprintln(env.Stderr, "Signs in at EDGE (every edge whose clusters use sign-in, when omitted) and waits until done.")
		fs.PrintDefaults()
	}
	if code, ok := parseAtMost(fs, args, 1); !ok {
		return code
	}
	c := newClient()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	list, err := c.Login(ctx, apitype.LoginRequest{Edge: fs.Arg(0), Device: *device})
	if err != nil {
		return fail(env, "login", err)
	}
	failed := false
	for _, si := range list {
		if !waitLogin(ctx, c, si, env) {
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

// waitLogin tells the user where to sign in at one edge and waits for the
// outcome; it reports whether the sign-in succeeded.
func waitLogin(ctx context.Context, c *client.Client, si apitype.SignIn, env Env) bool {
	shown := ""
	show := func(s apitype.SignIn) {
		if s.State != apitype.SignInNeeded || s.URL+s.UserCode == shown {
			return
		}
		shown = s.URL + s.UserCode
		switch {
		case s.UserCode != "":
			fmt.Fprintf(env.Stdout, "To sign in at edge %s, open\n\n    %s\n\non any device and enter the code\n\n    %s\n\nWaiting…\n", s.Edge, s.URL, s.UserCode)
		case s.BrowserOpened:
			fmt.Fprintf(env.Stdout, "Opened your browser to sign in at edge %s. If it did not open, visit:\n\n    %s\n\nWaiting…\n", s.Edge, s.URL)
		default:
			fmt.Fprintf(env.Stdout, "To sign in at edge %s, open:\n\n    %s\n\nWaiting…\n", s.Edge, s.URL)
		}
	}
	show(si)
	res := si
	var err error
	if si.State == apitype.SignInNeeded {
		res, err = c.WaitSignIn(ctx, si.Edge, show)
	} else if si.State != apitype.SignInSignedIn {
		err = client.ErrSignInEnded
	}
	switch {
	case err == nil:
		fmt.Fprintf(env.Stdout, "Signed in at edge %s as %s.\n", res.Edge, res.Email)
		return true
	case errors.Is(err, client.ErrSignInEnded) && res.Problem != nil:
		fmt.Fprintf(env.Stderr, "airlock login: edge %s: %s: %s\n", res.Edge, res.Problem.Code, res.Problem.Message)
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(env.Stderr, "airlock login: edge %s: gave up waiting for the sign-in (--timeout)\n", si.Edge)
	default:
		fmt.Fprintf(env.Stderr, "airlock login: edge %s: %v\n", si.Edge, err)
	}
	return false
}

// logoutCmd runs `airlock logout [EDGE]`.
func logoutCmd(ctx context.Context, args []string, env Env) int {
	fs, newClient := flags("logout", env)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: airlock logout [--socket PATH] [EDGE]")
		fmt.Fprintln(env.Stderr, "Signs out at EDGE (every edge when omitted): revokes the sign-in at the edge when it answers and deletes the tokens from the keychain, the fallback file and memory.")
		fs.PrintDefaults()
	}
	if code, ok := parseAtMost(fs, args, 1); !ok {
		return code
	}
	list, err := newClient().Logout(ctx, apitype.LogoutRequest{Edge: fs.Arg(0)})
	for _, si := range list {
		fmt.Fprintf(env.Stdout, "Signed out at edge %s.\n", si.Edge)
	}
	if err != nil {
		return fail(env, "logout", err)
	}
	return 0
}

// signInLine says an edge's sign-in for status output.
func signInLine(si *apitype.SignIn) string {
	var s string
	switch si.State {
	case apitype.SignInSignedIn:
		s = "signed in as " + si.Email
		if !si.Expires.IsZero() {
			s += ", token until " + si.Expires.Local().Format(time.TimeOnly)
		}
	case apitype.SignInNeeded:
		s = "sign-in needed: open " + si.URL
		if si.UserCode != "" {
			s += " and enter " + si.UserCode
		}
		if si.Waiting > 0 {
			s += fmt.Sprintf(" (%d connections waiting)", si.Waiting)
		}
	default:
		s = "signed out (the next connection starts a sign-in; or run `airlock login`)"
	}
	if si.Problem != nil {
		s += fmt.Sprintf(" [%s: %s]", si.Problem.Code, si.Problem.Message)
	}
	if ch := si.IdentityChanged; ch != nil {
		s += " " + identityWarning(ch)
	}
	return s
}

// identityWarning says that a sign-in came back as another user.
func identityWarning(ch *apitype.IdentityChange) string {
	return fmt.Sprintf("[WARNING: signed in as %s at %s, but %s was signed in before: if you did not switch accounts, run `airlock logout`]",
		ch.To, ch.Time.Local().Format(time.TimeOnly), ch.From)
}
