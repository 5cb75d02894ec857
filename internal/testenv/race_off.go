//go:build !race

package testenv

// race is whether this test binary has the race detector (go test -race).
const race = false
