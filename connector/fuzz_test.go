package connector_test

import (
	"testing"

	"github.com/airlockhq/airlock/connector"
	"github.com/airlockhq/airlock/connector/ingress"
)

// FuzzParseOptions feeds arbitrary config files to the YAML decoder: it must
// not panic, and every rule it accepts must compile on its own.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{
		"",
		"url: tcp://127.0.0.1:6443\n",
		"ingress:\n  - hostname: k8s.example.com\n    service: tcp://10.0.0.1:6443\n  - service: deny\n",
		"edges: [a:1, b:2]\nha-connections: 2\ngrace: 30s\n",
		"ingress: [{hostname: '*.a.com', service: 'tcp://[::1]:1'}]\n",
		"ingress:\n  - hostname: a\n    service: tcp://x:1\n    extra: 1\n",
		"grace: -5s\n",
		"&a [*a, *a]\n",
		"ingress: !!binary aGVsbG8=\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := connector.ParseOptions(b, "fuzz.yaml")
		if err != nil {
			return
		}
		for _, r := range o.Ingress {
			if err := ingress.Check(r); err != nil {
				t.Fatalf("accepted a rule that does not check: %v", err)
			}
		}
		ingress.New(o.Ingress) //nolint:errcheck // must not panic
	})
}
