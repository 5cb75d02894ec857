package oauth

import (
	"errors"
	"fmt"
	"github.com/airlockhq/airlock/internal/wire"
	"net/http"
	"strings"
)

// PolicyFunc says whether a person may use an app: nil when they may,
// else an error naming the reason (e.g. "alice@x is not allowed to reach
// app k8s.prod (policy: emails)"). The edge passes its per-stream policy
// check, so sign-in and streams decide alike. app is a lower-case
// hostname of Settings.Apps; email is lower case.
type PolicyFunc func(app, email string, groups []string) error

// denial is a sign-in the policy refuses for every app it asked for.
type denial struct {
	email   string
	apps    []string
	reasons []string
}

// permit returns the apps of aud that id may use, and the denial of the
// rest (nil when every app is allowed). Without a policy every app is.
func (st *state) permit(id Identity, aud []string) ([]string, *denial) {
	if st.Policy == nil {
		return aud, nil
	}
	var ok []string
	var d *denial
	for _, a := range aud {
		err := st.Policy(a, strings.ToLower(id.Email), id.Groups)
		if err == nil {
			ok = append(ok, a)
			continue
		}
		if d == nil {
			d = &denial{email: id.Email}
		}
		d.apps = append(d.apps, a)
		d.reasons = append(d.reasons, reasonOf(err))
	}
	return ok, d
}

// refusedEverywhere is the denial of a sign-in of id for the apps asked
// for (none: every app) when the policy allows none of them, else nil.
// Apps unknown to the edge are left to the token endpoint
// (invalid_target).
func (s *Server) refusedEverywhere(id Identity, asked []string) *denial {
	st := s.cur.Load()
	aud, perr := st.resolveAudience(asked)
	if perr != nil {
		return nil
	}
	ok, d := st.permit(id, aud)
	if len(ok) > 0 || d == nil {
		return nil
	}
	s.log.Info("sign-in refused by the apps' policy", "email", id.Email, "idp", id.IDP, "apps", d.apps)
	return d
}

// reasonOf is a policy refusal's message without its stream code.
func reasonOf(err error) string {
	var ee *wire.Error
	if errors.As(err, &ee) && ee.Message != "" {
		return ee.Message
	}
	return err.Error()
}

func (d *denial) who() string {
	if d.email == "" {
		return "an identity without an email"
	}
	return d.email
}

// String is the OAuth error_description: it names the person, the apps
// and the policy's reasons, in the ASCII RFC 6749 allows there.
func (d *denial) String() string {
	return asciiDesc(fmt.Sprintf("You (%s) are not allowed to use %s: %s. Ask your administrator for access.",
		d.who(), strings.Join(d.apps, ", "), strings.Join(d.reasons, "; ")))
}

// revokedDesc is the error_description of a refresh the policy refuses.
func (d *denial) revokedDesc() string {
	return asciiDesc(fmt.Sprintf("the policy no longer allows %s any app of this sign-in (%s): %s; the sign-in is revoked (ask your administrator for access)",
		d.who(), strings.Join(d.apps, ", "), strings.Join(d.reasons, "; ")))
}

// protoError is the token endpoint's access_denied for d.
func (d *denial) protoError() *protoError {
	return &protoError{http.StatusBadRequest, "access_denied", d.String()}
}

// deniedPage shows d to the person in the browser.
func (s *Server) deniedPage(w http.ResponseWriter, d *denial) {
	s.render(w, http.StatusForbidden, "denied", deniedPage{Email: d.who(), Apps: strings.Join(d.apps, ", "), Reasons: d.reasons})
}

// asciiDesc keeps s within the characters RFC 6749 allows in
// error_description (printable ASCII without '"' and '\').
func asciiDesc(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\' || r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, s)
}
