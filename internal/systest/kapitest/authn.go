package kapitest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// emptyAuthn is the authentication configuration a server with
// [Options.JWTAuthn] starts with: no JWT issuer.
const emptyAuthn = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt: []\n"

// authnReloaded is the line the kube-apiserver logs each time it has
// loaded a changed --authentication-config file.
var authnReloaded = []byte("reloaded authentication config")

// SetAuthentication replaces the server's authentication configuration
// (an AuthenticationConfiguration document, such as the one `airlock-edge
// app kube-auth` prints) and returns once the server has loaded it, or
// when ctx ends. The server must have been started with
// [Options.JWTAuthn].
func (s *Server) SetAuthentication(ctx context.Context, config string) error {
	if s.AuthnFile == "" {
		return fmt.Errorf("kapitest: the server was started without Options.JWTAuthn")
	}
	log, _ := os.ReadFile(s.LogFile)
	before := bytes.Count(log, authnReloaded)
	if err := os.WriteFile(s.AuthnFile, []byte(config), 0o600); err != nil {
		return fmt.Errorf("kapitest: %w", err)
	}
	err := testenv.Poll(ctx, 50*time.Millisecond, func() error {
		log, _ := os.ReadFile(s.LogFile)
		if bytes.Count(log, authnReloaded) > before {
			return nil
		}
		return fmt.Errorf("not reloaded")
	})
	if err != nil {
		return fmt.Errorf("kapitest: the kube-apiserver did not load the authentication config: %w; log tail:\n%s", err, s.LogTail(1500))
	}
	return nil
}

// Apply runs `kubectl apply` of manifest (YAML documents) as the admin
// user, with the kubectl binary at kubectl.
func (s *Server) Apply(ctx context.Context, kubectl, manifest string) error {
	admin := filepath.Join(s.Dir, "admin.kubeconfig")
	if err := s.Kubeconfig(admin, ""); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", admin, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kapitest: kubectl apply: %w: %s", err, out)
	}
	return nil
}

// GroupBinding is a ClusterRoleBinding named name of clusterRole to the
// group: a document for [Server.Apply]. The servers run no
// kube-controller-manager, which is what fills the view and edit roles by
// aggregation, so bind system:aggregate-to-view (or -edit) for their rules.
func GroupBinding(name, clusterRole, group string) string {
	return fmt.Sprintf(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: %s
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: %s
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: Group
    name: %s
`, name, clusterRole, group)
}
