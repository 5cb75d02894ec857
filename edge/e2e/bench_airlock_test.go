package e2e_test

// airlockStack is what the benchmark needs from a running Airlock path:
// the daemon's SOCKS5 listener and its credentials, and the CONNECT target
// to ask for (the connector dials only the origin its ingress rule names).
type airlockStack struct {
	SOCKSAddr  string
	User, Pass string
	Target     string
}

// The adapter to edge/edgetest/stack is startAirlock, in
// bench_airlock_stack_test.go (build tag airlockstack) once that package
// exists, and in bench_airlock_nostack_test.go until then.
