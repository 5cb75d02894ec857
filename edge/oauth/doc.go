// Package oauth is the edge's sign-in server: an OpenID Provider (OAuth
// 2.0, RFC 6749, and OpenID Connect Core 1.0) for one public client, the
// Airlock daemon, in front of the edge's built-in user list or an
// upstream OpenID Connect provider. Its protocol endpoints are served by
// github.com/zitadel/oidc/v3/pkg/op (op.RegisterServer: routing, request
// decoding, client authentication, answers and error bodies); what each
// grant means, the login pages and the upstream leg are this package's
// (op.go says where the line is, and why).
// The edge serves it over HTTPS on its own TCP listener with the edge
// certificate (the CA daemons already trust). This comment is the contract
// the daemon builds against (it uses golang.org/x/oauth2).
//
// # Where
//
// Edge config (package edge):
//
//	http_listen   TCP address of the HTTPS server; default port 7843 on the
//	              host of `listen` when that is loopback, else 127.0.0.1:7843;
//	              "off" turns sign-in off. `airlock-edge init --http-listen`.
//	public_url    the base URL browsers and daemons use, the metadata
//	              "issuer" (default https://<tls.server_name>:<port>)
//	store_file    the embedded store (default signin.db beside the config)
//	tokens.access_ttl   access token lifetime, 1m to 1h (default 15m)
//	tokens.refresh_ttl  how long an unused refresh token lives (default 720h)
//	users         built-in users: [{email, password_hash (bcrypt), groups}]
//	oidc_providers  upstream providers: [{name, display_name, issuer,
//	              client_id, client_secret | client_secret_file, ca_file,
//	              redirect_uri, scopes (added to openid email profile),
//	              groups_scope, auth_params, email_claim, groups_claim,
//	              allow_unverified_email, session_lifetime}]; register
//	              PUBLIC_URL/oauth/callback at each (logged at start). Each
//	              is checked at start and on reload (discovery, exact
//	              issuer, the client where the provider tells); see
//	              [Server.Prepare]
//	oidc          the single provider of older configs, named "oidc"
//	revocations   [{email, before}]: tokens of email issued before are
//	              refused (written by `airlock-edge user revoke EMAIL`)
//
// The base URL is PUBLIC_URL. A daemon that knows only the edge's address
// and TLS server name can dial the http_listen address with that server
// name and the edge CA.
//
// # Endpoints
//
//	GET  /.well-known/openid-configuration   OpenID Connect discovery:
//	     issuer, authorization_endpoint, token_endpoint,
//	     device_authorization_endpoint, revocation_endpoint, jwks_uri,
//	     scopes_supported (openid, email, profile, offline_access, groups),
//	     response_types_supported ["code"], grant_types_supported,
//	     subject_types_supported ["public"],
//	     id_token_signing_alg_values_supported ["ES256"], claims_supported,
//	     code_challenge_methods_supported ["S256"],
//	     token_endpoint_auth_methods_supported ["none"]
//	GET  /.well-known/oauth-authorization-server   the same document (RFC
//	     8414 authorization server metadata)
//	GET  /.well-known/jwks.json      {"keys":[{"kty":"OKP","crv":"Ed25519","x",
//	     "kid","alg":"EdDSA","use":"sig"}, …, {"kty":"EC","crv":"P-256","x","y",
//	     "kid","alg":"ES256","use":"sig"}]}: every key that verifies, then
//	     the key of ID tokens and cluster credentials
//	GET  /oauth/authorize            authorization code + PKCE (browser)
//	POST /oauth/token                code, refresh_token and device_code grants
//	POST /oauth/device/code          RFC 8628 device authorization
//	GET  /device                     where a person types the user code
//	POST /oauth/revoke               RFC 7009 revocation of refresh tokens
//	POST /oauth/login, GET /oauth/upstream, GET /oauth/callback: the login
//	     pages' own steps (not for clients)
//
// # The client
//
// client_id "airlock", public: no secret. It may come as the client_id
// form parameter or as HTTP Basic user name with an empty password
// (golang.org/x/oauth2 AuthStyleInParams or AuthStyleInHeader both work;
// the Basic user name wins over the form's). Any other client_id, a
// secret or a client assertion is invalid_client (401); no client_id at
// all is invalid_request. The grants are those below: client_credentials
// is unauthorized_client, other grant types unsupported_grant_type.
//
// # Authorization code
//
// GET /oauth/authorize?response_type=code&client_id=airlock
// &redirect_uri=http://127.0.0.1:PORT/PATH&state=S
// &code_challenge=C&code_challenge_method=S256[&audience=APPS]
// [&scope=openid …][&nonce=N]
//
//   - redirect_uri must be http://127.0.0.1:PORT/… or http://[::1]:PORT/…
//     (any port, RFC 8252 §7.3; no "localhost", no user info, no fragment).
//     A wrong client_id or redirect_uri is shown to the person as a page
//     (400, naming the cause) and never redirected to.
//   - state is required. PKCE S256 is required; "plain" and a missing
//     challenge are refused. These errors, like access_denied, go to the
//     redirect URI as error, error_description and state (RFC 6749
//     §4.1.2.1).
//   - The person signs in (built-in login page, or the upstream provider;
//     with both, the page offers both), and the browser is sent (303) to
//     redirect_uri?code=CODE&state=S. The daemon checks state.
//   - Before the code, the edge checks the apps' policy (the per-stream
//     check's code) for audience (none: every app). When it allows the
//     person none of them, no code is made: the browser is sent to
//     redirect_uri?error=access_denied&error_description=…&state=S, the
//     description naming the person, the apps and each policy's reason,
//     e.g. "You (alice@x) are not allowed to use k8s.prod: alice@x is not
//     allowed to reach app k8s.prod (policy: emails). Ask your
//     administrator for access." — the daemon shows it on its page.
//   - scope may be left out: every sign-in is an OpenID Connect one (the
//     token answer always has an id_token). nonce, when sent, comes back
//     in the ID token of the code it gets.
//   - Codes are one-time, live 60 s and are bound to the client, the
//     redirect_uri and the challenge. A code used twice fails and revokes
//     the refresh token family it issued.
//
// # Token endpoint
//
// POST /oauth/token, application/x-www-form-urlencoded. Every grant takes
// audience: the app hostnames wanted (repeat the parameter, or separate
// them with spaces). The access token's aud is those of them that are
// apps of this edge and whose policy allows the person; none of them are
// apps: invalid_target; none allowed: access_denied (code and device
// grants) naming the apps and the reasons. No audience: every app (on
// refresh: what the sign-in asked for). The policy is evaluated again on
// every refresh (an app the person lost drops out of aud, one regained
// comes back) and, as the real enforcement, on every stream.
//
//	grant_type=authorization_code&code=CODE&redirect_uri=URI&code_verifier=V
//	grant_type=refresh_token&refresh_token=R
//	grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=D
//	grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=JWT
//	  &subject_token_type=urn:ietf:params:oauth:token-type:access_token&audience=APP
//
// Answer (200):
//
//	{"access_token":JWT,"token_type":"Bearer","expires_in":SECONDS,
//	 "refresh_token":"alr_…","id_token":JWT,"audience":["k8s.example.com"]}
//
// (id_token: code, device and refresh grants; not token exchange.)
//
// Errors are {"error","error_description"} with 400 (401 for
// invalid_client): invalid_request, invalid_grant (unknown, used or expired
// code; redirect_uri mismatch; PKCE verifier mismatch; unknown, revoked,
// expired or reused refresh token; user removed; the policy no longer
// allows the user any app of the sign-in, which also revokes it),
// invalid_target, access_denied (the policy allows none of the apps),
// unsupported_grant_type, and for the device grant authorization_pending,
// slow_down, expired_token. The description names the cause.
//
// The ID token (OpenID Connect Core §2) is a JWT signed ES256 with the
// key of cluster credentials (kid header, typ JWT): iss PUBLIC_URL, aud
// ["airlock"], azp "airlock", sub, exp one hour later, iat, nbf,
// auth_time (when the person signed in; a refresh keeps it), nonce (of
// the authorization request), at_hash (of the access token), jti,
// email, email_verified true (the built-in list holds verified addresses
// and an upstream address is accepted only verified), groups (the
// built-in user's, or the upstream provider's groups claim), idp and
// kind "id". It says who signed in, to the client; it opens no stream
// (the per-stream check takes EdDSA only) and no cluster (their
// authenticator requires kind "kubernetes" and their own audience).
//
// The access token is an Ed25519 JWT (alg EdDSA, kid header) with iss
// (tokens.issuer), sub, aud, exp, iat, nbf, jti, email, groups, kind
// "access", fam (the refresh token family) and idp ("users" or "oidc").
// It opens the apps in aud on the QUIC path (edge.Open.Token).
//
// Refresh tokens are opaque ("alr_" and 43 characters) and rotate: every
// use returns a new one and the old one stops working. Using an already
// rotated refresh token again revokes the whole family (OAuth 2.1): a
// daemon must not refresh the same token concurrently. On refresh the
// edge re-reads a built-in user's groups, and refuses a user no longer in
// the list. An upstream user is not asked about again on refresh, but an
// upstream sign-in ends at oidc.session_lifetime (12 h by default): then
// refresh answers invalid_grant and the person signs in again. To cut
// one off sooner, revoke them (or change the app's policy: checked on
// refresh and on every stream).
//
// # Cluster credentials
//
// An app whose Kubernetes API server trusts the edge as its OIDC issuer
// (apps[].kubernetes.oidc.audience in the edge config) gets cluster
// credentials by token exchange with requested_token_type
// urn:ietf:params:oauth:token-type:id_token and audience=APP (one app,
// which the subject token names and the policy allows): the answer's
// access_token (issued_token_type id_token, token_type Bearer: the API server takes it as one) is a JWT
// signed ES256 (kid header, typ JWT) with iss PUBLIC_URL, aud the
// cluster's audience alone, sub, email, groups, kind "kubernetes", iat,
// nbf, jti and exp ClusterTTL (5 min) later, never after the subject
// token's. kube-apiserver's JWT authenticator accepts no EdDSA, hence
// ES256; the P-256 key is derived from the first signing key (HKDF), so
// edges with the same keys agree. It never opens a stream: the
// per-stream check accepts EdDSA only, kind access or service, and an
// app hostname as aud, and the config refuses an app hostname as a
// cluster's audience.
//
// Token exchange (RFC 8693) narrows an access token to the apps named by
// audience, each of which it must already name: the answer is an access
// token (issued_token_type access_token, no refresh token) with the same
// identity, family, iat and exp, so a client can send each app a token
// that opens that app only. Nothing rotates and nothing is stored.
//
// # Device authorization (RFC 8628)
//
// POST /oauth/device/code with client_id=airlock (and audience) answers
//
//	{"device_code":"ald_…","user_code":"BCDF-GHJK","verification_uri":
//	 "PUBLIC_URL/device","verification_uri_complete":
//	 "PUBLIC_URL/device?user_code=BCDF-GHJK","expires_in":600,"interval":5}
//
// The daemon polls the token endpoint with the device_code grant no faster
// than interval (slow_down adds 5 s); the person opens verification_uri,
// enters the code and signs in to approve it, or signs in to deny it
// (access_denied): a code is never denied by someone who only guessed
// it. When the
// policy allows the person none of the apps of the device authorization,
// the browser shows a "Not allowed" page (403) naming them and the
// reasons, and the device's next poll gets access_denied with the same
// description. The device_code is one-time.
//
// # Revocation
//
// POST /oauth/revoke with token=REFRESH_TOKEN and client_id=airlock
// revokes the token's family (200 also for unknown tokens, RFC 7009);
// access tokens get unsupported_token_type: revoke the refresh token.
// Operators run `airlock-edge user revoke EMAIL`. Removing a user from
// users, revoking their family or their sign-ins takes effect on their
// next stream: the edge's per-stream check ([Server.CheckAccess]) refuses
// an access token whose family is revoked, whose user was revoked after
// it was issued, or whose built-in user is gone.
//
// # Keys
//
// Tokens are signed by the first of tokens.signing_keys; all verify and
// are in the JWKS. `airlock-edge key rotate` adds a new key first.
//
// # Store
//
// Codes, refresh token families (only SHA-256 of refresh tokens) and
// device codes are in a [Store]: [BoltStore] (go.etcd.io/bbolt) in the
// state folder, so they survive a restart. A browser sign-in in progress
// is not stored at all: the authorization request (client, redirect URI,
// state, PKCE challenge, apps, browser cookie, expiry after 10 minutes)
// travels sealed with XChaCha20-Poly1305 under a key only this process
// holds, in the login form's req field and, for the upstream leg (with
// its nonce and PKCE verifier), in the state sent to the upstream
// provider. No number of unauthenticated requests takes memory from a
// real sign-in; an edge restart ends the sign-ins in progress. Only a
// sign-in that got past the password or the upstream provider is
// remembered (bounded, until it expires) so that each finishes once.
//
// # Login page
//
// A plain HTML form (no JavaScript) posted to /oauth/login with a CSRF
// token bound to an HttpOnly airlock_browser cookie; wrong email or
// password says so; failures are limited per user and address (5 per 10
// minutes) and per address (30).
package oauth
