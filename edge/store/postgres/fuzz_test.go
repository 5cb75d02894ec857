package postgres

import "testing"

// FuzzDecode: a stored record is bytes another edge (or a person with
// psql) wrote: decoding never panics, and what it accepts is valid.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"id":"f","client_id":"c","identity":{"sub":"s","idp":"users"},"expires":"2026-01-01T00:00:00Z","generation":1,"current":"k"}`))
	f.Add([]byte(`{"key":"k","user_code":"BCDFGHJK","client_id":"c","expires":"2026-01-01T00:00:00Z","interval":5,"status":"approved"}`))
	f.Add([]byte(`{"client_id":"c","redirect_uri":"http://127.0.0.1:1/","challenge":"x","identity":{"email":"a@b","idp":"oidc"},"expires":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"id":`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if fam, err := decode(b, validFamily); err == nil && validFamily(&fam) != nil {
			t.Fatal("accepted an invalid family")
		}
		if d, err := decode(b, validDevice); err == nil && validDevice(&d) != nil {
			t.Fatal("accepted an invalid device")
		}
		if c, err := decode(b, validCode); err == nil && validCode(&c) != nil {
			t.Fatal("accepted an invalid code")
		}
	})
}
