package catalogue

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzMetadata: the edge's metadata document, as any server at the URL
// joined may answer it: never a panic, and what is accepted has the
// joined URL as its auth_url and an https catalogue endpoint there.
func FuzzMetadata(f *testing.F) {
	f.Add([]byte(`{"version":1,"fleet":"acme","server_name":"edge.example.com","addresses":["edge.example.com:7844"],
		"auth_url":"https://edge.example.com:7843","catalogue_endpoint":"https://edge.example.com:7843/api/v1/catalogue"}`))
	f.Add([]byte(`{"version":1,"fleet":"acme","addresses":["a:1"],"catalogue_endpoint":"https://evil.example.com/x"}`))
	const joined = "https://edge.example.com:7843"
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Metadata
		if json.Unmarshal(data, &m) != nil {
			return
		}
		if err := checkMetadata(&m, joined); err != nil {
			return
		}
		if m.AuthURL != joined || !strings.HasPrefix(m.CatalogueEndpoint, joined) {
			t.Fatalf("accepted %+v for %s", m, joined)
		}
	})
}
