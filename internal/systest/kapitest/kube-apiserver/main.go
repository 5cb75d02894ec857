// Command kube-apiserver is a test-only kube-apiserver with an embedded etcd.
//
// It starts an etcd server in-process (go.etcd.io/etcd/server/v3/embed) on
// free loopback ports with a throw-away data directory, waits until it is
// ready, and then runs the real kube-apiserver from k8s.io/kubernetes with
// --etcd-servers pointing at it. Its own flags come first and are separated
// from kube-apiserver's by nothing: every flag it does not know is passed on.
//
//	kube-apiserver [--embedded-etcd-dir=DIR] [--embedded-etcd-host=127.0.0.1] [kube-apiserver flags…]
//
// It lives in a Go module of its own so that the main module never depends on
// k8s.io/kubernetes. Package kapitest builds and runs it for tests.
package main

import (
	"fmt"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	own, rest, err := splitArgs(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-apiserver: %v\n", err)
		return 2
	}
	etcd, err := startEtcd(own)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-apiserver: embedded etcd: %v\n", err)
		return 1
	}
	defer etcd.Close()
	return runAPIServer(append(rest, "--etcd-servers="+etcd.ClientURL))
}
