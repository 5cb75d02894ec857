package oauth

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzParseForm feeds untrusted form bodies to the form decoder and the
// audience parser: an error or a checked result, never a panic.
func FuzzParseForm(f *testing.F) {
	for _, s := range []string{
		"grant_type=authorization_code&code=alc_x&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb&code_verifier=v",
		"audience=k8s.demo.test&audience=a.test+b.test",
		"audience=bad%20host!",
		"a=1&a=2",
		"%zz",
		"audience=" + strings.Repeat("a.", 70) + "test",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseFormBytes(b)
		if err != nil {
			var pe *protoError
			if !errors.As(err, &pe) || pe.Code == "" || pe.Desc == "" {
				t.Fatalf("unnamed error %v", err)
			}
			return
		}
		for k, vs := range v {
			if k != "audience" && len(vs) > 1 {
				t.Fatalf("%q repeated and accepted", k)
			}
		}
		aud, err := parseAudience(v)
		if err != nil {
			return
		}
		if len(aud) > maxAudiences {
			t.Fatalf("%d audiences accepted", len(aud))
		}
		for _, a := range aud {
			if a != strings.ToLower(a) || strings.ContainsAny(a, " \t") {
				t.Fatalf("audience %q not normalised", a)
			}
		}
	})
}

// FuzzDecodeRecord feeds damaged store records to every record decoder.
func FuzzDecodeRecord(f *testing.F) {
	now := time.Unix(1700000000, 0).UTC()
	id := Identity{Subject: "a", Email: "a@example.com", IDP: IDPUsers}
	for _, v := range []any{
		Code{ClientID: ClientID, RedirectURI: "http://127.0.0.1:1/", Challenge: "c", Identity: id, Expires: now},
		Family{ID: "f", ClientID: ClientID, Identity: id, Created: now, Expires: now, Current: "k"},
		refreshEntry{Family: "f", Generation: 2},
		Device{Key: "k", UserCode: "BCDFGHJK", ClientID: ClientID, Expires: now, Interval: 5, Status: DeviceApproved, Identity: &id},
		Device{Key: "k", UserCode: "BCDFGHJK", ClientID: ClientID, Expires: now, Interval: 5, Status: DeviceDenied, DenyReason: "You (a@example.com) are not allowed to use k8s.example.com"},
	} {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte(`{"family":"f","generation":1}{}`))
	f.Add([]byte(`{"status":"approved","key":"k","user_code":"X","client_id":"airlock","expires":"2024-01-01T00:00:00Z","interval":5}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := decodeRecord(b, validCode); err == nil && (c.ClientID == "" || validIdentity(&c.Identity) != nil) {
			t.Fatalf("invalid code accepted: %+v", c)
		}
		if fam, err := decodeRecord(b, validFamily); err == nil && (fam.ID == "" || fam.Current == "") {
			t.Fatalf("invalid family accepted: %+v", fam)
		}
		if r, err := decodeRecord(b, validRefresh); err == nil && r.Family == "" {
			t.Fatalf("invalid refresh entry accepted: %+v", r)
		}
		if d, err := decodeRecord(b, validDevice); err == nil && d.Status == DeviceApproved && d.Identity == nil {
			t.Fatalf("approved device without identity accepted: %+v", d)
		}
	})
}

// FuzzRedirectURI checks that whatever passes is a loopback http URL
// with a port.
func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:1/cb", "http://[::1]:8080/", "http://localhost:1/", "https://evil/", "http://127.0.0.1:1@evil:2/", "http://127.0.0.1:1/#x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkRedirectURI(s) != nil {
			return
		}
		if !strings.HasPrefix(s, "http://127.0.0.1:") && !strings.HasPrefix(s, "http://[::1]:") {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzUserCode checks the normaliser of typed user codes.
func FuzzUserCode(f *testing.F) {
	for _, s := range []string{"BCDF-GHJK", "bcdf ghjk", "AAAA-AAAA", "", "BCDF-GHJK-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := normalizeUserCode(s)
		if err != nil {
			return
		}
		if len(n) != userCodeLen || strings.Trim(n, userCodeLetter) != "" {
			t.Fatalf("%q normalised to %q", s, n)
		}
	})
}

// FuzzOpenSealed feeds untrusted req fields and upstream states to the
// sealed sign-in's opener: only what this server sealed opens, and a
// one-byte change of it does not.
func FuzzOpenSealed(f *testing.F) {
	s := newSealer()
	good, _ := s.seal(sealLogin, &pending{ID: "i", Browser: "b", Expires: 1 << 40})
	f.Add(good)
	f.Add("")
	f.Add("AAAA")
	f.Add(strings.Repeat("A", 100))
	f.Fuzz(func(t *testing.T, v string) {
		var p pending
		if err := s.open(sealLogin, v, &p); err == nil && v != good {
			t.Fatalf("%q opened: %+v", v, p)
		}
	})
}
