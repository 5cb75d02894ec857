package signin

import (
	"encoding/base64"
	"strings"
	"testing"
)

func FuzzDecodeStored(f *testing.F) {
	good, _ := encodeStored(stored{AuthURL: "https://e.example.com:7843", RefreshToken: "rt", Email: "a@b"})
	for _, s := range []string{good, "", "{}", `{"v":1}`, `{"v":2,"auth_url":"x","refresh_token":"y"}`, good + "x", `{"v":1,"auth_url":"x","refresh_token":"y","z":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, err := decodeStored(v)
		if err != nil {
			return
		}
		if s.RefreshToken == "" || s.AuthURL == "" {
			t.Fatalf("accepted %+v", s)
		}
		back, err := encodeStored(s)
		if err != nil {
			t.Fatal(err)
		}
		if s2, err := decodeStored(back); err != nil || s2 != s {
			t.Fatalf("round trip: %+v %v", s2, err)
		}
	})
}

func FuzzPeekClaims(f *testing.F) {
	p := base64.RawURLEncoding.EncodeToString([]byte(`{"email":"a@b","sub":"x","exp":1700000000}`))
	aud := func(j string) string { return "a." + base64.RawURLEncoding.EncodeToString([]byte(j)) + ".c" }
	for _, s := range []string{"a." + p + ".c", aud(`{"aud":"k.example.com","fam":"f"}`), aud(`{"aud":["a","b"]}`), aud(`{"aud":[1,{}]}`), aud(`{"aud":null}`), "", "..", "a.b", "a.!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1e300}`)) + ".c", strings.Repeat("a", maxJWT+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := peekClaims(tok)
		if err != nil {
			return
		}
		if !c.Expiry.IsZero() && c.Expiry.Year() > 5000 {
			t.Fatalf("absurd expiry %v", c.Expiry)
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{
		`{"issuer":"https://e","authorization_endpoint":"https://e/authorize","token_endpoint":"https://e/token"}`,
		`{"authorization_endpoint":"http://e/a","token_endpoint":"https://e/t"}`,
		`{}`, `[]`, ``, `{"authorization_endpoint":"https://e/a","token_endpoint":"https://e/t","revocation_endpoint":"javascript:x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMetadata(data)
		if err != nil {
			return
		}
		if !strings.HasPrefix(m.AuthorizationEndpoint, "https:") || !strings.HasPrefix(m.TokenEndpoint, "https:") {
			t.Fatalf("accepted non-https endpoints: %+v", m)
		}
	})
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"a","token_type":"Bearer","refresh_token":"r","expires_in":900}`))
	f.Add(400, "application/json", []byte(`{"error":"invalid_grant","error_description":"revoked"}`))
	f.Add(200, "text/html", []byte(`<html>`))
	f.Add(200, "application/json", []byte(`{"access_token":"a","token_type":"mac"}`))
	f.Add(500, "", []byte(``))
	f.Add(200, "application/json", []byte(`{"access_token":"a","expires_in":-5}`))
	f.Fuzz(func(t *testing.T, status int, ct string, data []byte) {
		tok, err := parseTokenResponse(status, ct, data)
		if err != nil {
			if tok != nil {
				t.Fatal("token with an error")
			}
			return
		}
		if status != 200 || tok.AccessToken == "" {
			t.Fatalf("accepted status %d token %+v", status, tok)
		}
	})
}
