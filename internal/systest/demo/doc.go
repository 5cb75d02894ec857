// Package demo is `make demo`: the whole Airlock path on this machine —
// a real kube-apiserver (or a real cluster's API server), airlock-edge,
// airlock-connector and `airlock daemon`, started by internal/systest/stack —
// with sign-in at the edge's built-in user list, as a newcomer would live
// it.
//
// The edge gets one built-in user (demo@airlock.test with a random
// password, printed; its bcrypt hash goes into the edge's config). The demo
// runs kubectl while signed out: the daemon holds the connection and starts
// a sign-in, the demo (or the person) signs in through the edge's login
// page, and the same kubectl command completes. Who plays the browser is
// [Browser]: the person's own browser on a desktop, headless Chromium
// driven by the demo, the login form filled in over HTTP, or the device
// flow (a URL and a code for the person). The demo keeps watching the
// daemon's event stream until it is stopped, so a sign-out
// (`airlock logout`) followed by kubectl shows the sign-in again.
//
// [Run] is the whole demo; cmd/airlock-demo is a thin main around it.
package demo
