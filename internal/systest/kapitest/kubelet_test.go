package kapitest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// TestKubeletStandin starts a server with the kubelet stand-in and runs a
// pod on its node, directly (the streams through Airlock are the e2e
// package's): the node is Ready on 127.0.0.1, the pod Running, and exec,
// logs and exit codes pass through the kube-apiserver's kubelet client.
func TestKubeletStandin(t *testing.T) {
	bin := testenv.File(t, "/usr/bin/kubectl", "apt-get install kubectl")
	s := kapitest.Start(t, kapitest.Options{Kubelet: true})
	if s.Node != kapitest.NodeName {
		t.Fatalf("Node = %q, want %q", s.Node, kapitest.NodeName)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := s.Kubeconfig(kc, ""); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: ServiceAccount
metadata: {name: default}
---
apiVersion: v1
kind: Pod
metadata: {name: standin}
spec:
  nodeName: `+kapitest.NodeName+`
  containers:
  - {name: main, image: standin, command: [sh, -c, "echo started; exec cat"], stdin: true}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, bin, kc, "apply", "-f", manifest)
	kubectl(t, bin, kc, "wait", "--for=condition=Ready", "pod/standin", "--timeout=60s")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"node address", []string{"get", "node", kapitest.NodeName, "-o", `jsonpath={.status.addresses[?(@.type=="InternalIP")].address}`}, "127.0.0.1"},
		{"pod running", []string{"get", "pod", "standin", "-o", "jsonpath={.status.phase}"}, "Running"},
		{"exec", []string{"exec", "standin", "--", "sh", "-c", "echo $((6*7))"}, "42\n"},
		{"logs", []string{"logs", "standin"}, "started\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(kubectl(t, bin, kc, tc.args...)); got != tc.want {
				t.Fatalf("kubectl %s = %q, want %q", strings.Join(tc.args, " "), got, tc.want)
			}
		})
	}
}
