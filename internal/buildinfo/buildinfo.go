// Package buildinfo owns the version and commit stamped into every binary
// (by the Makefile and packaging/dist with -X) and the "program version
// (commit)" string that Hello frames and logs carry.
package buildinfo

import "runtime/debug"

// These are stamped at build time by the Makefile:
//
//	-X github.com/airlockhq/airlock/internal/buildinfo.version=v1.2.3 -X github.com/airlockhq/airlock/internal/buildinfo.commit=abc1234
var (
	version = ""
	commit  = ""
)

// BuildVersion returns the version and commit stamped into this binary, or
// what the Go toolchain recorded when it was not stamped.
func BuildVersion() (ver, rev string) {
	ver, rev = version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			ver = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && rev == "" && len(s.Value) >= 7 {
				rev = s.Value[:7]
			}
		}
	}
	if ver == "" {
		ver = "dev"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}

// Software names a program and its build for Hello frames and logs, e.g.
// "airlock-connector v1.2.3 (abc1234)".
func Software(program string) string {
	v, r := BuildVersion()
	return program + " " + v + " (" + r + ")"
}
