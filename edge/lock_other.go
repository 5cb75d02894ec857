//go:build !unix

package edge

// lockConfig is a no-op where flock does not exist; the edit is still atomic.
func lockConfig(string) (func(), error) { return func() {}, nil }
