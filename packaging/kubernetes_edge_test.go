package packaging_test

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/airlockhq/airlock/packaging/internal/ptest"
)

// k8sContainer is what the edge tests read of a container.
type k8sContainer struct {
	Args []string
	Env  []struct {
		Name      string
		Value     string
		ValueFrom struct {
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	}
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
		Protocol      string
	}
	ReadinessProbe struct {
		HTTPGet struct{ Path, Port string } `yaml:"httpGet"`
	} `yaml:"readinessProbe"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct{ Drop []string }
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string
		Limits   map[string]string
	}
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// k8sPod is what the edge tests read of a pod template.
type k8sPod struct {
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
	SecurityContext              struct {
		RunAsNonRoot   bool                  `yaml:"runAsNonRoot"`
		SeccompProfile struct{ Type string } `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Containers []k8sContainer
	Volumes    []struct {
		Name   string
		Secret struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode int    `yaml:"defaultMode"`
		}
	}
}

// env is the value of the container's variable name ("" if unset).
func (c k8sContainer) env(name string) (value, fieldPath string) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, e.ValueFrom.FieldRef.FieldPath
		}
	}
	return "", ""
}

// secretMount is where the pod's container c mounts the Secret secret.
func (p k8sPod) secretMount(c k8sContainer, secret string) string {
	for _, v := range p.Volumes {
		if v.Secret.SecretName != secret {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				return m.MountPath
			}
		}
	}
	return ""
}

// secretMode is the file mode of the pod's volume of Secret secret.
func (p k8sPod) secretMode(secret string) int {
	for _, v := range p.Volumes {
		if v.Secret.SecretName == secret {
			return v.Secret.DefaultMode
		}
	}
	return -1
}

// restricted are the checks every Airlock pod passes beyond the Pod
// Security Standard: no service account token, limits, a read-only root.
func restricted(p k8sPod, c k8sContainer) []check {
	return []check{
		{"no service account token", p.AutomountServiceAccountToken != nil && !*p.AutomountServiceAccountToken},
		{"non-root", p.SecurityContext.RunAsNonRoot},
		{"seccomp RuntimeDefault", p.SecurityContext.SeccompProfile.Type == "RuntimeDefault"},
		{"read-only root filesystem", c.SecurityContext.ReadOnlyRootFilesystem},
		{"no privilege escalation", c.SecurityContext.AllowPrivilegeEscalation != nil && !*c.SecurityContext.AllowPrivilegeEscalation},
		{"drops ALL capabilities", slices.Equal(c.SecurityContext.Capabilities.Drop, []string{"ALL"})},
		{"requests and limits", c.Resources.Requests["cpu"] != "" && c.Resources.Requests["memory"] != "" &&
			c.Resources.Limits["cpu"] != "" && c.Resources.Limits["memory"] != ""},
		{"no store URL in an argument", !slices.ContainsFunc(c.Args, func(a string) bool {
			return strings.HasPrefix(a, "--store-url=") || strings.Contains(a, "://")
		})},
	}
}

type check struct {
	name string
	ok   bool
}

func readK8s(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ptest.Root(t), "packaging", "kubernetes", "edge", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// TestEdgeKubernetes checks what the issue asks of the edge fleet's
// manifests beyond what the API server validates: edges as a Deployment of
// at least 2, each advertising its own pod IP, the store URL from a Secret
// mounted as a file (in $CREDENTIALS_DIRECTORY for the config's bare
// url_file), readiness from /healthz, the migrate Job reading the same
// Secret.
func TestEdgeKubernetes(t *testing.T) {
	const storeSecret = "airlock-edge-store"
	t.Run("deployment", func(t *testing.T) {
		var d struct {
			Spec struct {
				Replicas int
				Template struct{ Spec k8sPod }
			}
		}
		readK8s(t, "40-deployment.yaml", &d)
		pod := d.Spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Fatalf("%d containers, want 1", len(pod.Containers))
		}
		c := pod.Containers[0]
		_, podIP := c.env("POD_IP")
		credDir, _ := c.env("CREDENTIALS_DIRECTORY")
		ports := map[string]string{}
		for _, p := range c.Ports {
			ports[p.Name] = p.Protocol + "/" + strconv.Itoa(p.ContainerPort)
		}
		checks := append(restricted(pod, c),
			check{"at least 2 replicas", d.Spec.Replicas >= 2},
			check{"serve", len(c.Args) > 0 && c.Args[0] == "serve"},
			check{"advertise: the pod's own IP", slices.Contains(c.Args, "--advertise=$(POD_IP):7844") && podIP == "status.podIP"},
			check{"the config from the state Secret", slices.Contains(c.Args, "--config="+pod.secretMount(c, "airlock-edge")+"/config.yaml")},
			check{"the store URL file in $CREDENTIALS_DIRECTORY", credDir != "" && credDir == pod.secretMount(c, storeSecret)},
			check{"Secret files not readable by others", pod.secretMode(storeSecret)&0o007 == 0 && pod.secretMode("airlock-edge")&0o007 == 0},
			check{"QUIC on UDP 7844", ports["quic"] == "UDP/7844"},
			check{"sign-in on TCP 7843", ports["signin"] == "TCP/7843"},
			check{"readiness from the admin /healthz", c.ReadinessProbe.HTTPGet.Path == "/healthz" && c.ReadinessProbe.HTTPGet.Port == "admin" && ports["admin"] == "TCP/7845"},
		)
		for _, ch := range checks {
			if !ch.ok {
				t.Errorf("the Deployment misses: %s", ch.name)
			}
		}
	})
	t.Run("migrate job", func(t *testing.T) {
		var j struct {
			Spec struct {
				Template struct{ Spec k8sPod }
			}
		}
		readK8s(t, "30-migrate-job.yaml", &j)
		pod := j.Spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Fatalf("%d containers, want 1", len(pod.Containers))
		}
		c := pod.Containers[0]
		checks := append(restricted(pod, c),
			check{"migrate", len(c.Args) > 0 && c.Args[0] == "migrate"},
			check{"the store URL from the Secret's file", slices.Contains(c.Args, "--store-url-file="+path.Join(pod.secretMount(c, storeSecret), "store-url"))},
			check{"Secret file not readable by others", pod.secretMode(storeSecret)&0o007 == 0},
		)
		for _, ch := range checks {
			if !ch.ok {
				t.Errorf("the migrate Job misses: %s", ch.name)
			}
		}
	})
}
