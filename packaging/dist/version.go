package dist

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// PackageVersion is a version in the parts .deb and .rpm order by:
// Version, then Prerelease (written after "~", sorts before the release),
// then Metadata (written after "+", sorts after it).
type PackageVersion struct {
	Version    string // "1.2.3"
	Prerelease string // "rc.1" or ""
	Metadata   string // "git4.abc1234.dirty" or ""
	Build      uint16 // commits since the tag, for the Windows file version
}

// String is the version as dpkg writes it, e.g. "1.2.3~rc.1+git4.abc1234".
func (v PackageVersion) String() string {
	s := v.Version
	if v.Prerelease != "" {
		s += "~" + v.Prerelease
	}
	if v.Metadata != "" {
		s += "+" + v.Metadata
	}
	return s
}

// Windows is the four-part numeric version of a VERSIONINFO resource.
func (v PackageVersion) Windows() [4]uint16 {
	var out [4]uint16
	for i, p := range strings.SplitN(v.Version, ".", 3) {
		n, _ := strconv.ParseUint(p, 10, 16)
		out[i] = uint16(n)
	}
	out[3] = v.Build
	return out
}

var (
	semverRE   = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$`)
	describeRE = regexp.MustCompile(`^(.*)-([0-9]+)-g([0-9a-f]{4,40})$`)
	hashRE     = regexp.MustCompile(`^[0-9a-f]{4,40}$`)
	wordRE     = regexp.MustCompile(`^[0-9A-Za-z.]+$`)
)

// ParsePackageVersion turns a version as `git describe --tags --always
// --dirty` prints it into a package version:
//
//	v1.2.3                    1.2.3
//	v1.2.3-rc.1               1.2.3~rc.1
//	v1.2.3-4-gabc1234-dirty   1.2.3+git4.abc1234.dirty
//	abc1234 (no tag yet)      0.0.0~dev+git.abc1234
//	dev, ""                   0.0.0~dev (+git.COMMIT when commit is a hash)
//
// Anything else is an error naming the version.
func ParsePackageVersion(version, commit string) (PackageVersion, error) {
	v := strings.TrimSpace(version)
	var meta []string
	dirty := false
	if s, ok := strings.CutSuffix(v, "-dirty"); ok {
		v, dirty = s, true
	}
	switch {
	case v == "" || v == "dev":
		pv := PackageVersion{Version: "0.0.0", Prerelease: "dev"}
		if hashRE.MatchString(commit) {
			meta = append(meta, "git", commit)
		}
		return pv.withMeta(meta, dirty), nil
	case hashRE.MatchString(v):
		return PackageVersion{Version: "0.0.0", Prerelease: "dev"}.withMeta([]string{"git", v}, dirty), nil
	}
	var build uint16
	if m := describeRE.FindStringSubmatch(v); m != nil {
		n, err := strconv.ParseUint(m[2], 10, 16)
		if err != nil {
			n = 1<<16 - 1
		}
		v, build = m[1], uint16(n)
		meta = append(meta, "git"+m[2], m[3])
	}
	m := semverRE.FindStringSubmatch(v)
	if m == nil {
		return PackageVersion{}, fmt.Errorf("version %q: want vMAJOR.MINOR.PATCH[-PRERELEASE] as git describe prints it, a commit hash, or dev", version)
	}
	for _, p := range m[1:4] {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return PackageVersion{}, fmt.Errorf("version %q: %s is over 65535", version, p)
		}
	}
	pv := PackageVersion{Version: m[1] + "." + m[2] + "." + m[3], Build: build}
	if m[4] != "" {
		pv.Prerelease = strings.ReplaceAll(m[4], "-", ".")
		if !wordRE.MatchString(pv.Prerelease) {
			return PackageVersion{}, fmt.Errorf("version %q: prerelease %q", version, m[4])
		}
	}
	return pv.withMeta(meta, dirty), nil
}

func (v PackageVersion) withMeta(meta []string, dirty bool) PackageVersion {
	if dirty {
		meta = append(meta, "dirty")
	}
	if len(meta) > 0 {
		v.Metadata = strings.Join(meta, ".")
	}
	return v
}
