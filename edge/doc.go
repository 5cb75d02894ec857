// Package edge is the Airlock edge server: the QUIC listener that daemons and
// connectors dial, the check of every stream's token and app policy, the
// routing of streams to a tunnel's live connector connections, those heard
// lately first (quiet.go), with a signed per-stream assertion instead of the user's token (assert.go), each
// tunnel's cap on connector connections and the operator's view of its
// connector instances (connectors.go), the audit log, the metrics, and the
// state folder that `airlock-edge init`, `tunnel create`, `tunnel rotate`
// and `token mint` manage.
//
// # State folder
//
// [Init] writes, in one folder:
//
//	config.yaml          the edge configuration (see [Config]), 0600
//	ca.crt, ca.key       a local CA (ECDSA P-256); the key 0600
//	edge.crt, edge.key   the edge's certificate, signed by the CA; the key 0600
//	signing-KID.pem      the Ed25519 token signing key (PKCS #8), 0600
//	reset.key            the secret of the QUIC stateless reset key, 0600
//	tunnels/NAME.json    connector credentials written by [CreateTunnel], 0600
//
// Relative paths in config.yaml resolve against the folder that holds it.
//
// # Serving
//
// [New] binds the QUIC (UDP) and admin (TCP) listeners; [Server.Run] serves
// until its context ends, then sends [wire.Drain] on every connection, waits
// up to the shutdown grace for open streams, and closes. [Server.Reload]
// swaps the apps, tunnels, policies and keys atomically without dropping
// connections. The QUIC stateless reset key is derived from reset.key, so
// that an edge killed and restarted answers its old connections' packets
// with a stateless reset and their peers re-dial at once.
//
// # Revocation
//
// Every stream's check refuses, besides what package oauth revokes for
// sign-in tokens: a service token whose record in service_tokens
// ([ServiceToken], written by [MintToken]) is marked revoked by
// [RevokeToken], [RevokeUser] or [RemoveUser], and a service token of an
// email in revocations issued before its time (which reaches tokens
// without a record). Both are compiled into the snapshot on every
// reload, so the check is two map lookups; the command line edits the
// config file and the running edge applies it when the file changes. A
// record, and its entry in the deny set, goes once its token has
// expired past the leeway.
//
// [Serve] is the whole life of `airlock-edge serve` around those: load the
// config file, serve it, and reload it when the file changes or when asked
// (airlock-edge asks on SIGHUP). The command line itself is package
// edge/cli.
package edge
