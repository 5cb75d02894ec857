package app

import (
	"fmt"
	"strings"

	"github.com/airlockhq/airlock/assets"
	"github.com/airlockhq/airlock/daemon/apitype"
)

// View is everything the tray shows, computed from the daemon's status
// alone (see [BuildView]); the UI only draws it.
type View struct {
	Icon    assets.State
	Tooltip string
	// Daemon is a line about the daemon when it does not answer ("" when
	// it does).
	Daemon string
	// Account is "Signed in as …", or "Sign in…" when AccountAction.
	Account       string
	AccountAction bool // the account item is clickable (sign in)
	AccountNote   string
	CanSignOut    bool
	Clusters      []ClusterView
	// CanConnectAll and CanDisconnectAll enable those items.
	CanConnectAll    bool
	CanDisconnectAll bool
	ConfigPath       string
	// Fleet is the joined edge ("" when none is): "Sync now" and "Leave
	// fleet" act on it.
	Fleet string
}

// ClusterView is one cluster's menu item.
type ClusterView struct {
	Name  string
	Title string // "prod — connected · 127.0.0.2:1080"
	// On is true while the cluster's proxy is up (listening): the item is
	// checked and a click disconnects it.
	On       bool
	State    apitype.State
	ProxyURL string
	Tooltip  string
}

// Account is what the tray knows about the signed-in user; the zero value
// means sign-in is not available from the tray.
type Account struct {
	// User is the signed-in user, "" when nobody is.
	User string
	// CanSignIn and CanSignOut say whether the daemon offers those actions.
	CanSignIn, CanSignOut bool
}

// AccountFromStatus reads the account from the edges' sign-in states: the
// user signed in at any edge, sign-in offered while an edge that needs it
// is not signed in, sign-out while one is.
func AccountFromStatus(st *apitype.Status) Account {
	var a Account
	for _, e := range st.Edges {
		if e.SignIn == nil {
			continue
		}
		if e.SignIn.State == apitype.SignInSignedIn {
			a.CanSignOut = true
			if a.User == "" {
				a.User = e.SignIn.Email
			}
		} else {
			a.CanSignIn = true
		}
	}
	return a
}

// BuildView computes the tray's view from a status; st nil means no daemon
// answers, and daemonNote says why.
func BuildView(st *apitype.Status, acct Account, daemonNote string) View {
	v := View{Icon: assets.Disconnected}
	switch {
	case acct.User != "":
		v.Account = "Signed in as " + acct.User
	case acct.CanSignIn:
		v.Account, v.AccountAction = "Sign in…", true
	default:
		v.Account = "Sign in…"
		v.AccountNote = "no cluster needs a sign-in, or this daemon cannot sign in from the tray: run `airlock login`"
	}
	if acct.User != "" && acct.CanSignIn {
		v.Account += " (sign in…)" // signed in at one edge, not at another
		v.AccountAction = true
	}
	v.CanSignOut = acct.CanSignOut && acct.User != ""
	if st == nil {
		v.Daemon = daemonNote
		if v.Daemon == "" {
			v.Daemon = "Starting the Airlock daemon…"
		}
		v.Icon = assets.Connecting
		v.Tooltip = "Airlock: " + v.Daemon
		return v
	}
	v.ConfigPath = st.ConfigPath
	if len(st.Catalogues) > 0 {
		v.Fleet = st.Catalogues[0].Edge
	}
	var on, signIn, failed, connecting int
	var problems []string
	for _, e := range st.Edges {
		if e.SignIn != nil && e.SignIn.State == apitype.SignInNeeded {
			signIn++
			problems = append(problems, "sign-in needed at "+e.Name)
		}
	}
	for _, cl := range st.Clusters {
		cv := clusterView(cl)
		v.Clusters = append(v.Clusters, cv)
		if cv.On {
			on++
			v.CanDisconnectAll = true
		} else {
			v.CanConnectAll = true
		}
		switch {
		case cl.State == apitype.StateError && cl.Problem != nil && needsSignIn(cl.Problem.Code):
			signIn++
			problems = append(problems, cl.Name+": sign-in needed")
		case cl.State == apitype.StateError:
			failed++
			problems = append(problems, cl.Name+": "+problemText(cl.Problem))
		case cl.State == apitype.StateConnecting:
			connecting++
		}
	}
	switch {
	case signIn > 0:
		v.Icon = assets.SignIn
	case failed > 0:
		v.Icon = assets.Error
	case connecting > 0:
		v.Icon = assets.Connecting
	case on > 0:
		v.Icon = assets.Connected
	}
	tip := fmt.Sprintf("Airlock: %d of %d clusters connected", on, len(st.Clusters))
	if len(st.Clusters) == 1 {
		tip = fmt.Sprintf("Airlock: %s %s", st.Clusters[0].Name, st.Clusters[0].State)
	}
	if len(problems) > 0 {
		tip += "\n" + strings.Join(problems, "\n")
	}
	v.Tooltip = tip
	return v
}

func clusterView(cl apitype.Cluster) ClusterView {
	on := cl.ProxyURL != "" || cl.State == apitype.StateConnected || cl.State == apitype.StateConnecting
	state := string(cl.State)
	if cl.State == apitype.StateError && cl.Problem != nil {
		state = "error: " + problemShort(cl.Problem)
	}
	title := cl.Name + " — " + state
	if on && cl.Listen != "" {
		title += " · " + cl.Listen
	}
	tip := cl.App
	if cl.Problem != nil {
		tip += "\n" + cl.Problem.Message
	}
	return ClusterView{Name: cl.Name, Title: title, On: on, State: cl.State, ProxyURL: cl.ProxyURL, Tooltip: tip}
}

// needsSignIn reports whether a problem code means the user must sign in.
func needsSignIn(code string) bool {
	switch code {
	case "unauthenticated", "token_unavailable", "signin_required", "sign_in_required", "login_required":
		return true
	}
	return false
}

// problemShort is a few words for a problem code, for menu titles.
func problemShort(p *apitype.Problem) string {
	switch p.Code {
	case "unauthenticated", "token_unavailable", "signin_required", "sign_in_required", "login_required":
		return "sign-in needed"
	case "forbidden":
		return "access refused"
	case "edge_unreachable":
		return "edge unreachable"
	case "no_connector":
		return "no connector"
	case "listen_failed":
		return "cannot listen"
	}
	return strings.ReplaceAll(p.Code, "_", " ")
}

func problemText(p *apitype.Problem) string {
	if p == nil {
		return "error"
	}
	return problemShort(p)
}

// catalogueNote is the notification of a sync that changed what the person
// may use: the contexts added and removed.
func catalogueNote(ev apitype.Event) (Note, bool) {
	c := ev.Catalogue
	if ev.Type != apitype.EventCatalogue || c == nil || len(c.Added)+len(c.Removed) == 0 {
		return Note{}, false
	}
	var parts []string
	if len(c.Added) > 0 {
		parts = append(parts, "added "+strings.Join(c.Added, ", "))
	}
	if len(c.Removed) > 0 {
		parts = append(parts, "removed "+strings.Join(c.Removed, ", "))
	}
	return Note{Key: "catalogue/" + c.Edge, Summary: "Your clusters at " + c.Edge + " changed",
		Body: "kubectl contexts " + strings.Join(parts, "; ")}, true
}
