package e2e

// airlockStack is what the benchmark needs from a running Airlock path:
// the daemon's SOCKS5 listener and its credentials, and the CONNECT target
// to ask for (the connector dials only the origin its ingress rule names).
// startAirlock, in bench_airlock_start_test.go, adapts internal/systest/stack
// to it.
type airlockStack struct {
	SOCKSAddr  string
	User, Pass string
	Target     string
	// Procs are the daemon's, the edge's and the connector's processes,
	// whose CPU time the bulk rounds sample.
	Procs []benchPID
}
