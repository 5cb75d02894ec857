//go:build !windows

package app

// registerURLHandler does nothing here: the package's desktop entry
// (Linux) or Info.plist (macOS) registers airlock:// links.
func registerURLHandler(string) (bool, error) { return false, nil }
