package kapitest

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestKubeconfig(t *testing.T) {
	s := &Server{
		URL:           "https://127.0.0.9:6443",
		CAPEM:         []byte("ca"),
		ClientCertPEM: []byte("cert"),
		ClientKeyPEM:  []byte("key"),
	}
	tests := []struct {
		name, proxy, wantErr string
	}{
		{name: "direct"},
		{name: "socks5", proxy: "socks5://u:p%22q@127.0.0.2:1080"},
		{name: "http", proxy: "http://127.0.0.2:3128"},
		{name: "socks5h refused", proxy: "socks5h://127.0.0.2:1080", wantErr: `scheme "socks5h"`},
		{name: "garbage refused", proxy: "://x", wantErr: "proxy URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config")
			err := s.Kubeconfig(path, tc.proxy)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("file written despite the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var kc struct {
				Clusters []struct {
					Name    string
					Cluster map[string]string
				}
				Users []struct {
					Name string
					User map[string]string
				}
				Contexts []struct {
					Name    string
					Context map[string]string
				}
				CurrentContext string `yaml:"current-context"`
			}
			if err := yaml.Unmarshal(b, &kc); err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if len(kc.Clusters) != 1 || kc.Clusters[0].Name != ClusterName {
				t.Fatalf("clusters %+v", kc.Clusters)
			}
			c := kc.Clusters[0].Cluster
			if c["server"] != s.URL || c["proxy-url"] != tc.proxy || c["certificate-authority-data"] != base64.StdEncoding.EncodeToString(s.CAPEM) {
				t.Errorf("cluster %v", c)
			}
			u := kc.Users[0].User
			if u["client-key-data"] != base64.StdEncoding.EncodeToString(s.ClientKeyPEM) {
				t.Errorf("user %v", u)
			}
			if kc.CurrentContext != ClusterName || kc.Contexts[0].Context["user"] != kc.Users[0].Name {
				t.Errorf("contexts %+v current %q", kc.Contexts, kc.CurrentContext)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}
