package edge

import (
	"github.com/airlockhq/airlock/internal/relay"
	"github.com/airlockhq/airlock/internal/wire"
	"strings"
	"testing"
)

func TestPolicy(t *testing.T) {
	full := Policy{
		Allow: Rule{Emails: []string{"Bob@Other.test"}, EmailDomains: []string{"example.com"}, Groups: []string{"sre"}},
		Deny:  Rule{Emails: []string{"mallory@example.com"}, EmailDomains: []string{"contractors.example.com"}, Groups: []string{"Offboarded"}},
	}
	cases := []struct {
		name   string
		policy Policy
		email  string
		groups []string
		allow  bool
		msg    string
	}{
		{"domain", full, "alice@example.com", nil, true, ""},
		{"domain ignores case", full, "Alice@EXAMPLE.com", nil, true, ""},
		{"exact email ignores case", full, "bob@other.test", nil, true, ""},
		{"group", full, "carol@elsewhere.test", []string{"dev", "sre"}, true, ""},
		{"group without email", full, "", []string{"sre"}, true, ""},
		{"subdomain is not the domain", full, "eve@evil.example.com", nil, false, "eve@evil.example.com is not allowed to reach app k8s.demo.test (policy: emails, email domains, groups)"},
		{"suffix trick", full, "eve@notexample.com", nil, false, "not allowed"},
		{"other email", full, "bobby@other.test", nil, false, "not allowed"},
		{"deny email beats allow domain", full, "mallory@example.com", nil, false, "denied app k8s.demo.test by a deny rule (email mallory@example.com)"},
		{"deny domain", full, "x@contractors.example.com", []string{"sre"}, false, "deny rule (email domain contractors.example.com)"},
		{"deny group ignores case", full, "alice@example.com", []string{"offboarded"}, false, "deny rule (group offboarded)"},
		{"no email, no group", full, "", nil, false, "a token without an email is not allowed"},
		{"empty policy allows nobody", Policy{}, "alice@example.com", nil, false, "allows nobody yet"},
		{"deny only allows nobody", Policy{Deny: Rule{Emails: []string{"x@y.test"}}}, "alice@example.com", nil, false, "allows nobody"},
		{"emails only", Policy{Allow: Rule{Emails: []string{"a@b.test"}}}, "c@b.test", nil, false, "(policy: emails)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := compilePolicy("k8s.demo.test", tc.policy).check(tc.email, tc.groups)
			if tc.allow {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if relay.CodeOf(err) != wire.CodeForbidden || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want forbidden naming %q", err, tc.msg)
			}
		})
	}
}
