package dist

import (
	"regexp"
	"strings"
	"testing"
)

func TestParsePackageVersion(t *testing.T) {
	tests := []struct {
		name, version, commit string
		want                  string // as dpkg writes it
		windows               [4]uint16
	}{
		{"release", "v1.2.3", "abc1234", "1.2.3", [4]uint16{1, 2, 3, 0}},
		{"release without v", "1.2.3", "", "1.2.3", [4]uint16{1, 2, 3, 0}},
		{"prerelease", "v1.2.3-rc.1", "", "1.2.3~rc.1", [4]uint16{1, 2, 3, 0}},
		{"prerelease with dashes", "v1.2.3-rc-1", "", "1.2.3~rc.1", [4]uint16{1, 2, 3, 0}},
		{"after a tag", "v1.2.3-4-gabc1234", "", "1.2.3+git4.abc1234", [4]uint16{1, 2, 3, 4}},
		{"after a tag, dirty", "v1.2.3-4-gabc1234-dirty", "", "1.2.3+git4.abc1234.dirty", [4]uint16{1, 2, 3, 4}},
		{"after a prerelease tag", "v2.0.0-beta.2-10-gdeadbeef", "", "2.0.0~beta.2+git10.deadbeef", [4]uint16{2, 0, 0, 10}},
		{"tag, dirty", "v1.2.3-dirty", "", "1.2.3+dirty", [4]uint16{1, 2, 3, 0}},
		{"no tag", "abc1234", "abc1234", "0.0.0~dev+git.abc1234", [4]uint16{}},
		{"no tag, dirty", "abc1234-dirty", "abc1234", "0.0.0~dev+git.abc1234.dirty", [4]uint16{}},
		{"dev with a commit", "dev", "abc1234", "0.0.0~dev+git.abc1234", [4]uint16{}},
		{"dev without a commit", "dev", "unknown", "0.0.0~dev", [4]uint16{}},
		{"empty", "", "", "0.0.0~dev", [4]uint16{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pv, err := ParsePackageVersion(tc.version, tc.commit)
			if err != nil {
				t.Fatal(err)
			}
			if got := pv.String(); got != tc.want {
				t.Errorf("%q → %q, want %q", tc.version, got, tc.want)
			}
			if got := pv.Windows(); got != tc.windows {
				t.Errorf("Windows() = %v, want %v", got, tc.windows)
			}
		})
	}
}

func TestParsePackageVersionRejects(t *testing.T) {
	for _, v := range []string{"1.2", "v1.2.3.4", "release-1", "v1.2.3 extra", "v1.2.3-rc_1", "v01.2.3", "v70000.0.0", "../x", "v1.2.3-", "v1.2.3-a..b", "v1.2.3-.a"} {
		t.Run(v, func(t *testing.T) {
			_, err := ParsePackageVersion(v, "")
			if err == nil {
				t.Fatalf("%q accepted", v)
			}
			if !strings.Contains(err.Error(), "version") {
				t.Errorf("error %q does not say what was wrong", err)
			}
		})
	}
}

// A version string reaches dpkg's and rpm's headers and file names: it must
// never yield a version they refuse or a path separator.
func FuzzParsePackageVersion(f *testing.F) {
	for _, s := range []string{"v1.2.3", "v1.2.3-rc.1", "v1.2.3-4-gabc1234-dirty", "abc1234", "dev", "", "v1.2.3-a-b-c-1-gdead-dirty"} {
		f.Add(s, "abc1234")
	}
	valid := regexp.MustCompile(`^[0-9][0-9A-Za-z.~+]*$`)
	f.Fuzz(func(t *testing.T, version, commit string) {
		pv, err := ParsePackageVersion(version, commit)
		if err != nil {
			return
		}
		s := pv.String()
		if !valid.MatchString(s) || strings.Contains(s, "..") {
			t.Fatalf("%q, %q → package version %q", version, commit, s)
		}
		_ = pv.Windows()
	})
}
