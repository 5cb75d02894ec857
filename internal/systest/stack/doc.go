// Package stack runs the whole Airlock path as real processes on one
// machine: a kube-apiserver (or any TCP origin), airlock-edge,
// airlock-connector and `airlock daemon`, wired together with a fresh edge
// state, a tunnel, a service token and a daemon configuration. The
// end-to-end tests, the benchmarks and `make demo` all start it.
//
// With a kube-apiserver, the harness writes a kubeconfig for it without
// proxy-url and gives it to the daemon as $KUBECONFIG; the daemon's
// configuration maps that kubeconfig's cluster entry to the demo cluster, so
// the daemon writes the proxy-url itself, as it would into a user's
// kubeconfig, and Start returns once the daemon reports it written.
//
// Every listener is on loopback: the edge and the daemon on addresses of
// their own in 127.0.0.0/8 with ports the kernel picked, so several stacks
// can run at once.
//
// StartFleet runs the stack's edge as the first of a fleet of real
// airlock-edge processes on one shared PostgreSQL store (store: with
// url_file, `airlock-edge migrate` once); the other edges are copies of
// its state folder with addresses, edge_id and advertise: of their own,
// the connectors are given the first edge's address only, and the
// daemon's edge entry lists every edge's (addresses:). Start and its one
// edge with the embedded store are unchanged.
package stack
