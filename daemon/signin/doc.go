// Package signin signs the user in at an edge (the edge is an OAuth 2.0
// authorization server, client id "airlock") and supplies the resulting
// access tokens to the daemon's SOCKS listeners as a [tokens.Source]. A
// [Manager] is one edge's sign-in; the daemon keeps one per sign-in edge
// and is the one place that fans a login or logout out over edges.
//
// The life of a token:
//
//   - Token returns the access token in memory while it is valid: one atomic
//     load, no lock, no I/O.
//   - Otherwise one sign-in starts for the edge (single-flight: twenty
//     parallel connections cause one) and every caller is held until it
//     completes, up to the configured wait (default 2 min), so the kubectl
//     command that needed the token goes on by itself. The sign-in first
//     tries the refresh token (in memory, else from the keychain); without
//     one, or when the edge refuses it, it runs the authorization code flow
//     with PKCE S256 and state through a loopback redirect listener
//     (http://127.0.0.1:PORT/callback), or the device flow (RFC 8628) where
//     no browser can be opened.
//   - The browser opens at most once per edge per BrowserInterval (default
//     5 min); otherwise the [Notifier] (the tray) and the log get the URL.
//     A [Command] browser never gets the URL in its arguments (readable by
//     every local user): it opens a private page under the daemon's runtime
//     folder ($XDG_RUNTIME_DIR/airlock) that redirects to it.
//   - A sign-in that comes back as a different user than the one signed in
//     before at the edge (in this run, else the stored sign-in's) is warned
//     of: the log, the [Notifier] and apitype.SignIn.IdentityChanged, until
//     a logout.
//   - Access tokens are renewed in the background at 80% of their lifetime,
//     so a connection rarely waits; an open stream was authorised when it
//     opened and is never touched by a renewal.
//   - Refresh tokens rotate: every refresh returns a new one, which is
//     stored (keychain first) before the new access token is used; refreshes
//     of one edge are serialised, as reusing a rotated refresh token revokes
//     its whole family.
//
// The sign-in's access token covers every sign-in app on an edge
// (requests carry `audience` = those apps' hostnames), but no stream
// carries it: [Manager.AppToken] exchanges it at the edge (RFC 8693 token
// exchange) for a token that names one app alone, with the same expiry,
// so a token seen on one app's path opens no other app. App tokens live in
// memory only, one per sign-in app at most, exchanged once per app however
// many streams ask (single-flight), again in the background when the
// sign-in token is renewed, and dropped with it (sign-out, a new sign-in,
// a token the edge refused). An edge without token exchange answers
// unsupported_grant_type: its streams then carry the sign-in token, as
// before, with one warning.
//
// [Manager.ClusterCredential] is the person's credential for the
// Kubernetes API server behind an app that trusts the edge as its OIDC
// issuer (`airlock credential`, kubectl's exec plugin): a token exchange
// with requested_token_type id_token answers a token whose audience is the
// cluster's alone, never a stream's token. It lives in memory until a
// minute before it expires (5 min from the edge), one exchange at a time
// per edge, and drops with the app tokens. Only refresh tokens are stored, as small JSON
// values in a keychain.Store; nothing here logs a token.
package signin
