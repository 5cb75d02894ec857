// Package demo is `make demo`: the whole Airlock path on this machine —
// a real kube-apiserver (or a real cluster's API server), airlock-edge,
// airlock-connector and `airlock daemon`, started by internal/systest/stack —
// with sign-in at the edge's built-in user list, as a newcomer would live
// it.
//
// The edge gets one built-in user (demo@airlock.test with a random
// password, printed; its bcrypt hash goes into the edge's config) in the
// group developers. With the local kube-apiserver, the demo is issue 13's
// path: the operator's side publishes the app's Kubernetes details (server,
// CA, OIDC audience) in the edge's config, installs `airlock-edge app
// kube-auth` as the kube-apiserver's AuthenticationConfiguration (the edge
// is its JWT issuer) and binds the group airlock:developers to the edit
// role's rules; the person's side is a fresh home with a daemon that has no
// configuration, and `airlock join LINK` (the link `airlock-edge invite`
// prints) signs in and writes the daemon's configuration and a kubeconfig
// context whose user is the exec plugin `airlock credential`. kubectl
// through it (get namespaces, auth whoami) is the person at the API server:
// no client certificate, no token in the kubeconfig.
//
// With -origin (a real cluster, which does not trust this demo edge) or
// -token (a service token: no one signs in) there is no cluster identity:
// the demo writes the daemon's configuration and a kubeconfig itself, as
// before issue 13, and runs kubectl while signed out (the daemon holds the
// connection until the sign-in is done).
//
// Who plays the browser is [Browser]: the person's own browser on a
// desktop, headless Chromium driven by the demo, the login form filled in
// over HTTP, or the device flow (a URL and a code for the person). The demo
// keeps watching the daemon's event stream until it is stopped, so a
// sign-out (`airlock logout`) followed by kubectl shows the sign-in again.
//
// [Run] is the whole demo; cmd/airlock-demo is a thin main around it.
package demo
