package joinlink_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/joinlink"
)

const fp = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseLink(t *testing.T) {
	for _, tc := range []struct {
		name, link string
		want       joinlink.Invite
		err        string // in the error; "" for success
	}{
		{name: "edge and ca", link: "airlock://join?edge=https%3A%2F%2Fedge.example.com%3A7843&ca=" + fp, want: joinlink.Invite{Edge: "https://edge.example.com:7843", CA: fp}},
		{name: "edge only", link: "airlock://join?edge=https://Edge.Example.com", want: joinlink.Invite{Edge: "https://edge.example.com"}},
		{name: "trailing slash", link: "airlock://join/?edge=https://e.test:1/", want: joinlink.Invite{Edge: "https://e.test:1"}},
		{name: "ipv6", link: "airlock://join?edge=https://[::1]:7843", want: joinlink.Invite{Edge: "https://[::1]:7843"}},
		{name: "http edge", link: "airlock://join?edge=http://edge.example.com", err: "not https://"},
		{name: "javascript edge", link: "airlock://join?edge=javascript:alert(1)", err: "not https://"},
		{name: "edge with path", link: "airlock://join?edge=https://e.test/evil", err: "path"},
		{name: "edge with query", link: "airlock://join?edge=https://e.test/%3Fa=b", err: "path, query"},
		{name: "edge with user", link: "airlock://join?edge=https://bob@e.test", err: "HOST[:PORT]"},
		{name: "edge shell host", link: "airlock://join?edge=https://e.test%3Brm", err: "neither a DNS name"},
		{name: "no edge", link: "airlock://join?ca=" + fp, err: "names no edge"},
		{name: "two edges", link: "airlock://join?edge=https://a.test&edge=https://b.test", err: "appears 2 times"},
		{name: "unknown parameter", link: "airlock://join?edge=https://a.test&token=x", err: "unknown parameter"},
		{name: "bad ca", link: "airlock://join?edge=https://a.test&ca=sha256:00", err: "64 hex"},
		{name: "upper-case ca", link: "airlock://join?edge=https://a.test&ca=" + strings.ToUpper(fp), err: "64"},
		{name: "other host", link: "airlock://leave?edge=https://a.test", err: "does not start"},
		{name: "other scheme", link: "https://join?edge=https://a.test", err: "does not start"},
		{name: "opaque", link: "airlock:join?edge=https://a.test", err: "does not start"},
		{name: "fragment", link: "airlock://join?edge=https://a.test#x", err: "fragment"},
		{name: "too long", link: "airlock://join?edge=https://a.test&x=" + strings.Repeat("a", joinlink.MaxLen), err: "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := joinlink.ParseLink(tc.link)
			if tc.err == "" {
				if err != nil || got != tc.want {
					t.Fatalf("ParseLink = %+v, %v; want %+v", got, err, tc.want)
				}
				back, err := joinlink.ParseLink(got.Link())
				if err != nil || back != got {
					t.Fatalf("Link() %s parses back as %+v, %v", got.Link(), back, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, joinlink.ErrInvalid) {
				t.Fatalf("ParseLink = %+v, %v; want an error with %q", got, err, tc.err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, arg string
		want      joinlink.Invite
		ok        bool
	}{
		{name: "host", arg: "edge.example.com", want: joinlink.Invite{Edge: "https://edge.example.com:7843"}, ok: true},
		{name: "host and port", arg: "edge.example.com:443", want: joinlink.Invite{Edge: "https://edge.example.com:443"}, ok: true},
		{name: "url", arg: "https://edge.example.com:7843/", want: joinlink.Invite{Edge: "https://edge.example.com:7843"}, ok: true},
		{name: "link", arg: "airlock://join?edge=https://e.test&ca=" + fp, want: joinlink.Invite{Edge: "https://e.test", CA: fp}, ok: true},
		{name: "http url", arg: "http://edge.example.com"},
		{name: "empty", arg: ""},
		{name: "junk host", arg: "a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := joinlink.Parse(tc.arg)
			if tc.ok != (err == nil) || tc.ok && got != tc.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v (ok %v)", tc.arg, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestCommand(t *testing.T) {
	inv := joinlink.Invite{Edge: "https://edge.example.com:7843", CA: fp}
	if got, want := inv.Command(), "airlock join https://edge.example.com:7843 --ca "+fp; got != want {
		t.Fatalf("Command = %q, want %q", got, want)
	}
	if got, want := inv.Link(), "airlock://join?edge=https%3A%2F%2Fedge.example.com%3A7843&ca=sha256%3A"+fp[7:]; got != want {
		t.Fatalf("Link = %q, want %q", got, want)
	}
}

// FuzzParseLink: any bytes a web page can put in a link either parse to
// an invite that names an https edge and a well-formed fingerprint, whose
// own link parses back the same, or are refused with ErrInvalid.
func FuzzParseLink(f *testing.F) {
	for _, s := range []string{
		"airlock://join?edge=https%3A%2F%2Fedge.example.com%3A7843&ca=" + fp,
		"airlock://join?edge=https://[::1]:1",
		"airlock://join?edge=https://a.test&edge=https://b.test",
		"airlock://join?edge=https://a.test%00&ca=x",
		"airlock://join/?edge=https://a.test/#",
		"airlock:join",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := joinlink.ParseLink(s)
		if err != nil {
			if !errors.Is(err, joinlink.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if !strings.HasPrefix(inv.Edge, "https://") || strings.ContainsAny(inv.Edge, " \t\r\n\"'<>;&|$`\\") {
			t.Fatalf("edge %q", inv.Edge)
		}
		if inv.CA != "" && joinlink.CheckFingerprint(inv.CA) != nil {
			t.Fatalf("ca %q", inv.CA)
		}
		if back, err := joinlink.ParseLink(inv.Link()); err != nil || back != inv {
			t.Fatalf("%q: Link %q parses back as %+v, %v", s, inv.Link(), back, err)
		}
	})
}
