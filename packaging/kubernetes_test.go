package packaging_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/airlockhq/airlock/packaging/internal/ptest"
)

// TestKubernetesManifests has a real kube-apiserver accept each folder of
// manifests (the connector's, the edge fleet's): the namespace is created
// for real (a server-side dry run of the objects in it needs it), then the
// whole folder goes through `kubectl apply --dry-run=server`, then for
// real. The namespaces enforce the "restricted" Pod Security Standard and
// warn on violations, so any warning fails the test.
func TestKubernetesManifests(t *testing.T) {
	kubectl := testenv.LookPath(t, "kubectl", "apt-get install kubectl or google-cloud-cli-kubectl")
	root := filepath.Join(ptest.Root(t), "packaging", "kubernetes")
	s := kapitest.Start(t, kapitest.Options{})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := s.Kubeconfig(kubeconfig, ""); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		if strings.Contains(stderr.String(), "Warning") {
			t.Errorf("kubectl %s warned:\n%s", strings.Join(args, " "), stderr.String())
		}
		return stdout.String()
	}
	// get is a `kubectl get OBJECT -o jsonpath=PATH` and what it must print.
	type get struct{ object, jsonpath, want string }
	for _, f := range []struct {
		name, dir, namespace string
		objects              []string
		gets                 []get
	}{
		{
			name: "connector", dir: root, namespace: "airlock",
			objects: []string{
				"namespace/airlock",
				"serviceaccount/airlock-connector",
				"secret/airlock-connector",
				"deployment.apps/airlock-connector",
				"poddisruptionbudget.policy/airlock-connector",
			},
			gets: []get{
				{"deployment/airlock-connector", "{.spec.replicas} {.spec.template.spec.containers[0].readinessProbe.httpGet.path} {.spec.template.spec.containers[0].livenessProbe.httpGet.path}", "2 /ready /healthz"},
				{"pdb/airlock-connector", "{.spec.minAvailable}", "1"},
			},
		},
		{
			name: "edge", dir: filepath.Join(root, "edge"), namespace: "airlock-edge",
			objects: []string{
				"namespace/airlock-edge",
				"serviceaccount/airlock-edge",
				"secret/airlock-edge-store",
				"job.batch/airlock-edge-migrate",
				"deployment.apps/airlock-edge",
				"service/airlock-edge",
				"service/airlock-edge-signin",
				"poddisruptionbudget.policy/airlock-edge",
			},
			gets: []get{
				{"deployment/airlock-edge", "{.spec.replicas} {.spec.template.spec.containers[0].readinessProbe.httpGet.path}", "3 /healthz"},
				{"service/airlock-edge", "{.spec.type} {.spec.ports[0].protocol}/{.spec.ports[0].port} {.spec.sessionAffinity} {.spec.externalTrafficPolicy}", "LoadBalancer UDP/7844 ClientIP Local"},
				{"service/airlock-edge-signin", "{.spec.type} {.spec.ports[0].protocol}/{.spec.ports[0].port}", "LoadBalancer TCP/7843"},
				{"pdb/airlock-edge", "{.spec.maxUnavailable}", "1"},
				{"job/airlock-edge-migrate", "{.spec.template.spec.containers[0].args[0]}", "migrate"},
			},
		},
	} {
		t.Run(f.name, func(t *testing.T) {
			run(t, "apply", "-f", filepath.Join(f.dir, "00-namespace.yaml"))
			t.Run("server dry run", func(t *testing.T) {
				out := run(t, "apply", "--dry-run=server", "-f", f.dir)
				for _, obj := range f.objects {
					if !strings.Contains(out, obj+" ") {
						t.Errorf("no %s in:\n%s", obj, out)
					}
				}
				if strings.Count(out, "(server dry run)") != len(f.objects) {
					t.Errorf("want %d objects through the server dry run:\n%s", len(f.objects), out)
				}
			})
			t.Run("apply", func(t *testing.T) {
				run(t, "apply", "-f", f.dir)
				for _, g := range f.gets {
					if got := run(t, "-n", f.namespace, "get", g.object, "-o", "jsonpath="+g.jsonpath); got != g.want {
						t.Errorf("%s: %s is %q, want %q", g.object, g.jsonpath, got, g.want)
					}
				}
			})
		})
	}
}

// TestConnectorDeployment checks what the issue asks of the Deployment
// beyond what the API server validates.
func TestConnectorDeployment(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(ptest.Root(t), "packaging", "kubernetes", "30-deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Spec struct {
			Replicas int
			Template struct {
				Spec struct {
					AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
					SecurityContext              struct {
						RunAsNonRoot   bool                  `yaml:"runAsNonRoot"`
						SeccompProfile struct{ Type string } `yaml:"seccompProfile"`
					} `yaml:"securityContext"`
					Affinity struct {
						PodAntiAffinity struct {
							Preferred []struct {
								PodAffinityTerm struct {
									TopologyKey string `yaml:"topologyKey"`
								} `yaml:"podAffinityTerm"`
							} `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
						} `yaml:"podAntiAffinity"`
					}
					Containers []struct {
						Args            []string
						SecurityContext struct {
							ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
							AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
							Capabilities             struct{ Drop []string }
						} `yaml:"securityContext"`
						Resources struct {
							Requests map[string]string
							Limits   map[string]string
						}
					}
				}
			}
		}
	}
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	checks := []struct {
		name string
		ok   bool
	}{
		{"2 replicas", d.Spec.Replicas == 2},
		{"anti-affinity by node", len(pod.Affinity.PodAntiAffinity.Preferred) == 1 &&
			pod.Affinity.PodAntiAffinity.Preferred[0].PodAffinityTerm.TopologyKey == "kubernetes.io/hostname"},
		{"no service account token", pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken},
		{"non-root", pod.SecurityContext.RunAsNonRoot},
		{"seccomp RuntimeDefault", pod.SecurityContext.SeccompProfile.Type == "RuntimeDefault"},
		{"read-only root filesystem", c.SecurityContext.ReadOnlyRootFilesystem},
		{"no privilege escalation", c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation},
		{"drops ALL capabilities", slices.Equal(c.SecurityContext.Capabilities.Drop, []string{"ALL"})},
		{"requests and limits", c.Resources.Requests["cpu"] != "" && c.Resources.Requests["memory"] != "" &&
			c.Resources.Limits["cpu"] != "" && c.Resources.Limits["memory"] != ""},
		{"admin listener for the probes", slices.Contains(c.Args, "--admin=0.0.0.0:7846")},
		{"credentials from the Secret", slices.Contains(c.Args, "--credentials=/etc/airlock/credentials.json")},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("the Deployment misses: %s", ch.name)
		}
	}
}
