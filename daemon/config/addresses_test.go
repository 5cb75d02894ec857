package config

import (
	"slices"
	"strings"
	"testing"
)

func TestEdgeAddresses(t *testing.T) {
	const tail = "clusters:\n  - name: a\n    app: a.example.com\n    token: t\n"
	many := make([]string, MaxEdgeAddresses+1)
	for i := range many {
		many[i] = "127.0.0.1:" + string(rune('1'+i%9)) + "000"
	}
	cases := []struct {
		name      string
		edge      string // the lines after "  - name: main\n"
		addresses []string
		auth      string
		want      string // a problem's text; "" means valid
	}{
		{"one address", "    address: edge.example.com:7844\n", []string{"edge.example.com:7844"}, "https://edge.example.com:7843", ""},
		{"a fleet", "    addresses: [edge-a.example.com:7844, 127.0.0.1:7844]\n", []string{"edge-a.example.com:7844", "127.0.0.1:7844"}, "https://edge-a.example.com:7843", ""},
		{"a fleet of one", "    addresses: [edge.example.com:7844]\n", []string{"edge.example.com:7844"}, "https://edge.example.com:7843", ""},
		{"both", "    address: a.example.com:1\n    addresses: [b.example.com:1]\n", nil, "", "edges[0].addresses: is set beside address"},
		{"empty list", "    addresses: []\n", nil, "", "edges[0].addresses: is required"},
		{"not a list", "    addresses: a.example.com:1\n", nil, "", "edges[0].addresses: must be a list of strings"},
		{"no port", "    addresses: [a.example.com:1, b.example.com]\n", nil, "", "edges[0].addresses[1]: must be host:port"},
		{"twice", "    addresses: [a.example.com:1, A.example.com:1]\n", nil, "", `edges[0].addresses[1]: "A.example.com:1" is listed twice`},
		{"too many", "    addresses: [" + strings.Join(many, ", ") + "]\n", nil, "", "at most 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("edges:\n  - name: main\n"+tc.edge+tail), "")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want one naming %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e := cfg.Edges[0]
			if !slices.Equal(e.Addresses, tc.addresses) || e.Address != tc.addresses[0] || e.AuthURL != tc.auth {
				t.Fatalf("addresses %q, address %q, auth_url %q", e.Addresses, e.Address, e.AuthURL)
			}
			if err := cfg.Validate(); err != nil || !slices.Equal(cfg.Edges[0].Addresses, tc.addresses) {
				t.Fatalf("a second Validate: %v, addresses %q", err, cfg.Edges[0].Addresses)
			}
		})
	}
	t.Run("in code", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			edge Edge
			want string
		}{
			{"address only", Edge{Name: "e", Address: "127.0.0.1:1"}, ""},
			{"addresses only", Edge{Name: "e", Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}}, ""},
			{"address first of addresses", Edge{Name: "e", Address: "127.0.0.1:1", Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}}, ""},
			{"address elsewhere", Edge{Name: "e", Address: "127.0.0.1:2", Addresses: []string{"127.0.0.1:1", "127.0.0.1:2"}}, "is not the first of addresses"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := &Config{Edges: []Edge{tc.edge}, Clusters: []Cluster{{Name: "a", App: "a.example.com", Token: "t"}}}
				err := cfg.Validate()
				if tc.want != "" {
					if err == nil || !strings.Contains(err.Error(), tc.want) {
						t.Fatalf("err = %v, want %q", err, tc.want)
					}
					return
				}
				if err != nil || cfg.Edges[0].Address != cfg.Edges[0].Addresses[0] {
					t.Fatalf("%v: %+v", err, cfg.Edges[0])
				}
			})
		}
	})
}
