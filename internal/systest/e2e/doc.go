// Package e2e holds the end-to-end tests and benchmarks of the whole
// Airlock path: the real airlock, airlock-edge and airlock-connector
// programs, a real kube-apiserver and the real kubectl, all on loopback,
// started through package stack.
package e2e
