package packaging_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/airlockhq/airlock/internal/systest/pgtest"
	"github.com/airlockhq/airlock/internal/testenv"
)

// podEnv turns a container of the manifests into a local process's
// arguments and environment, as the kubelet would: $(VAR) references
// expanded from the container's env, fieldRef values from fields, and
// every mount path replaced by the folder that stands for it.
type podEnv struct {
	fields map[string]string // fieldPath → value (status.podIP)
	mounts map[string]string // mountPath → local folder
}

func (p podEnv) path(s string) string {
	for mount, dir := range p.mounts {
		if s == mount || strings.HasPrefix(s, mount+"/") {
			return dir + strings.TrimPrefix(s, mount)
		}
		s = strings.ReplaceAll(s, "="+mount+"/", "="+dir+"/")
	}
	return s
}

func (p podEnv) command(t *testing.T, c k8sContainer) (args, env []string) {
	t.Helper()
	vars := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.Value != "":
			vars[e.Name] = p.path(e.Value)
		case e.ValueFrom.FieldRef.FieldPath != "":
			v, ok := p.fields[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("env %s: no value for field %s", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			vars[e.Name] = v
		default:
			continue // resourceFieldRef (GOMEMLIMIT): not needed to run
		}
		env = append(env, e.Name+"="+vars[e.Name])
	}
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, a := range c.Args {
		a = ref.ReplaceAllStringFunc(a, func(m string) string {
			v, ok := vars[m[2:len(m)-1]]
			if !ok {
				t.Fatalf("argument %q: %s is not in the container's env", a, m)
			}
			return v
		})
		args = append(args, p.path(a))
	}
	return args, env
}

// TestEdgeKubernetesRun runs the edge fleet's manifests' containers as the
// kubelet would, with the real airlock-edge and a real PostgreSQL: the
// Secrets as folders of 0440 files (the state folder as `kubectl create
// secret --from-file` takes it, without ca.key), the migrate Job's command,
// then the Deployment's with POD_IP set. The edge serves from the read-only
// Secret folder (writing nothing there), joins the fleet advertising the
// pod's IP, and its readiness probe's path answers 200 with that address.
func TestEdgeKubernetesRun(t *testing.T) {
	ctx := testenv.Context(t)
	bin := testenv.BuildBinary(t, "github.com/airlockhq/airlock/edge/cmd/airlock-edge")
	pg := pgtest.Start(ctx, t)
	dsn := pg.NewDatabase(ctx, t)
	tmp := t.TempDir()

	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("airlock-edge %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// The state folder an operator makes, then the Secret's files.
	state := filepath.Join(tmp, "init")
	run(t, "init", "--dir", state, "--hostname", "edge.example.test",
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	cfgPath := filepath.Join(state, "config.yaml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(b), "\nstore_file: signin.db\n", "\nstore:\n  url_file: store-url\n", 1)
	if cfg == string(b) {
		t.Fatalf("no store_file line to replace in:\n%s", b)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := func(name string, files map[string][]byte) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, b := range files {
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o440); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) }) //nolint:errcheck // TempDir's removal reports it
		return dir
	}
	stateFiles := map[string][]byte{}
	entries, err := os.ReadDir(state)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "ca.key" || strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		if stateFiles[e.Name()], err = os.ReadFile(filepath.Join(state, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	stateDir := secret("airlock-edge", stateFiles)
	storeDir := secret("airlock-edge-store", map[string][]byte{"store-url": []byte(dsn + "\n")})

	var job struct {
		Spec struct {
			Template struct{ Spec k8sPod }
		}
	}
	readK8s(t, "30-migrate-job.yaml", &job)
	var dep struct {
		Spec struct {
			Template struct{ Spec k8sPod }
		}
	}
	readK8s(t, "40-deployment.yaml", &dep)
	mounts := func(pod k8sPod, c k8sContainer) map[string]string {
		m := map[string]string{}
		if p := pod.secretMount(c, "airlock-edge"); p != "" {
			m[p] = stateDir
		}
		if p := pod.secretMount(c, "airlock-edge-store"); p != "" {
			m[p] = storeDir
		}
		return m
	}

	t.Run("migrate job", func(t *testing.T) {
		pod := job.Spec.Template.Spec
		c := pod.Containers[0]
		args, env := podEnv{mounts: mounts(pod, c)}.command(t, c)
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "up to date") {
			t.Fatalf("the Job's airlock-edge %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if strings.Contains(string(out), pg.Password) {
			t.Fatal("the Job printed the password")
		}
	})

	t.Run("deployment", func(t *testing.T) {
		pod := dep.Spec.Template.Spec
		c := pod.Containers[0]
		const podIP = "127.0.0.1"
		args, env := podEnv{fields: map[string]string{"status.podIP": podIP}, mounts: mounts(pod, c)}.command(t, c)
		before := listing(t, stateDir)
		var logs testenv.Buffer
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		var waitErr error
		go func() { waitErr = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			cmd.Process.Kill() //nolint:errcheck // it may have exited
			<-exited
		})
		var admin string
		adminRe := regexp.MustCompile(`"msg":"edge serving".*?"admin":"([^"]+)"`)
		testenv.Eventually(t, "the edge serving", func() bool {
			select {
			case <-exited:
				t.Fatalf("the Deployment's airlock-edge %s exited: %v\n%s", strings.Join(args, " "), waitErr, logs.String())
			default:
			}
			m := adminRe.FindStringSubmatch(logs.String())
			if m != nil {
				admin = m[1]
			}
			return m != nil && strings.Contains(logs.String(), `"msg":"joined the fleet"`)
		})
		if !strings.Contains(logs.String(), `"advertise":"`+podIP+`:7844"`) {
			t.Errorf("the edge did not advertise the pod's IP:\n%s", logs.String())
		}
		// The fleet's list reaches /healthz once the edge has read the
		// members after joining.
		testenv.Eventually(t, "the readiness probe showing the pod's address in the fleet", func() error {
			resp, err := http.Get("http://" + admin + c.ReadinessProbe.HTTPGet.Path)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var h struct {
				Status string
				Fleet  struct{ Members map[string]string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || h.Status != "ok" {
				return fmt.Errorf("%s: %d, status %q", c.ReadinessProbe.HTTPGet.Path, resp.StatusCode, h.Status)
			}
			for _, addr := range h.Fleet.Members {
				if addr == podIP+":7844" {
					return nil
				}
			}
			return fmt.Errorf("fleet members %v, want the pod's %s:7844", h.Fleet.Members, podIP)
		})
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-exited
		if waitErr != nil {
			t.Errorf("SIGTERM: %v\n%s", waitErr, logs.String())
		}
		if after := listing(t, stateDir); after != before {
			t.Errorf("the edge wrote into the Secret's folder: before %s, after %s", before, after)
		}
		if strings.Contains(logs.String(), pg.Password) {
			t.Error("the edge logged the password")
		}
	})
}

// listing is the names, sizes and modes of dir's files.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var b bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b.WriteString(p + " " + info.Mode().String() + " " + info.ModTime().String() + "\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
