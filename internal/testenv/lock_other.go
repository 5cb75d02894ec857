//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package testenv

import "context"

// LockFile does not lock where flock is missing: two processes may then
// both build, and an atomic rename keeps the result whole either way.
func LockFile(context.Context, string, func()) (func(), error) {
	return func() {}, nil
}
