// Package connector is the program that runs next to a private origin (a
// Kubernetes API server) and serves it through Airlock edges without opening
// any inbound port.
//
// It dials every edge it is given, several times over (HA connections,
// default 2 per edge), and serves the streams the edges open on those
// connections: for each one it verifies the stream assertion the edge
// signed (never the user's token, which it does not see) against the edge's
// published keys: for this connector's tunnel, the Dial's app and stream,
// within its seconds-long lifetime, its nonce unseen by any of its
// connections, vouching for the forwarded email. Then it finds the first
// ingress rule for the app and dials only the origin that rule names, never
// the target a client asked for. An edge of a fleet tells it the fleet's
// members ([wire.Members]) after its Welcome and at every change: the
// connector holds the same HA connections to each member it was not
// configured with (at most [MaxFollowedEdges]), dialled with the same TLS
// server name, CA and tunnel secret, and drains them when the member
// leaves the list; its configured edges it never drops. Lost connections are
// re-dialled with full-jitter backoff. When its context ends it tells every
// edge to stop routing to it, lets open streams finish for a grace period and
// returns nil.
//
// An admin HTTP listener (loopback by default) serves /ready (each
// connection's state as JSON; 200 only while at least one connection is
// healthy), /healthz and /metrics (Prometheus, from the connector's own
// registry).
//
// [Command] is the airlock-connector command line: its flags, the --config
// file ([LoadOptions]) under them, and its exit codes.
package connector
