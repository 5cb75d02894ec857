package kapitest

import (
	"encoding/base64"
	"fmt"
	"github.com/airlockhq/airlock/internal/atomicfile"
	"net/url"
	"strconv"
	"strings"
)

// Kubeconfig writes a kubeconfig for the admin user to path: cluster and
// context [ClusterName], user ClusterName+"-admin", certificates inline.
// A non-empty proxyURL (socks5://[user:pass@]host:port, or http/https) is
// written as the cluster's proxy-url. The file appears whole (temp file and
// rename) with mode 0600.
func (s *Server) Kubeconfig(path, proxyURL string) error {
	if proxyURL != "" {
		u, err := url.Parse(proxyURL)
		if err != nil {
			return fmt.Errorf("kapitest: proxy URL: %w", err)
		}
		switch u.Scheme {
		case "socks5", "http", "https":
		default:
			return fmt.Errorf("kapitest: proxy URL scheme %q: kubectl accepts only socks5, http and https", u.Scheme)
		}
	}
	var b strings.Builder
	b64 := base64.StdEncoding.EncodeToString
	q := strconv.Quote
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: %s\n  cluster:\n", q(ClusterName))
	fmt.Fprintf(&b, "    server: %s\n    certificate-authority-data: %s\n", q(s.URL), b64(s.CAPEM))
	if proxyURL != "" {
		fmt.Fprintf(&b, "    proxy-url: %s\n", q(proxyURL))
	}
	user := ClusterName + "-admin"
	fmt.Fprintf(&b, "users:\n- name: %s\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n",
		q(user), b64(s.ClientCertPEM), b64(s.ClientKeyPEM))
	fmt.Fprintf(&b, "contexts:\n- name: %s\n  context:\n    cluster: %s\n    user: %s\n", q(ClusterName), q(ClusterName), q(user))
	fmt.Fprintf(&b, "current-context: %s\n", q(ClusterName))
	return atomicfile.Write(path, []byte(b.String()), 0o600)
}
