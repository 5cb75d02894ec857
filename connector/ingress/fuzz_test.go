package ingress

import (
	"strings"
	"testing"
)

// FuzzParseFlag feeds arbitrary --ingress values through ParseFlag and New:
// nothing may panic, and any accepted list must end with a catch-all whose
// allowed origins are all host:port.
func FuzzParseFlag(f *testing.F) {
	for _, s := range []string{
		"k8s.example.com=tcp://10.0.0.1:6443",
		"*.example.com=tcp://[fd00::1]:443",
		"*=deny",
		"=tcp://x:1",
		"a.example.com=http://x:80",
		"a.*.com=tcp://x:1",
		"a=tcp://u:p@x:1/path?q#f",
		"\xff=tcp://x:1",
		"a.example.com=tcp://%zz:1",
	} {
		f.Add(s, "b.example.com=tcp://127.0.0.1:1")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var rules []Rule
		for i, s := range []string{a, b} {
			r, err := ParseFlag(s, "--ingress")
			if err != nil {
				if !strings.Contains(err.Error(), "--ingress") {
					t.Fatalf("rule %d: error %q does not name the rule", i, err)
				}
				return
			}
			rules = append(rules, r)
		}
		rs, err := New(rules)
		if err != nil {
			return
		}
		all := rs.All()
		if !all[len(all)-1].CatchAll() {
			t.Fatal("accepted rules do not end with a catch-all")
		}
		for _, r := range all {
			if !r.Deny() && r.Origin() == "" {
				t.Fatalf("%s allows with no origin", r.Name())
			}
		}
		rs.Match(a)
		rs.Match(b)
	})
}
