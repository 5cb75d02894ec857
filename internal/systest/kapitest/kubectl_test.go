package kapitest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/testenv"
	"github.com/things-go/go-socks5"
)

// TestKubectl starts a server on 127.0.0.9 and runs real kubectls against
// it, directly and through a SOCKS5 proxy whose outgoing side is 127.0.0.3,
// which the audit log must then show.
func TestKubectl(t *testing.T) {
	s := kapitest.Start(t, kapitest.Options{Addr: "127.0.0.9", Audit: true})
	if !strings.HasPrefix(s.URL, "https://127.0.0.9:") || s.URL != "https://"+s.Addr {
		t.Fatalf("URL %q, Addr %q", s.URL, s.Addr)
	}
	direct := filepath.Join(t.TempDir(), "direct.kubeconfig")
	if err := s.Kubeconfig(direct, ""); err != nil {
		t.Fatal(err)
	}
	proxyAddr := startSOCKS5(t, "127.0.0.2", "127.0.0.3")
	proxied := filepath.Join(t.TempDir(), "proxied.kubeconfig")
	if err := s.Kubeconfig(proxied, "socks5://"+proxyAddr); err != nil {
		t.Fatal(err)
	}

	kubectls := []struct{ name, path string }{
		{"system", "/usr/bin/kubectl"},
		{"1.27", "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"},
	}
	for _, k := range kubectls {
		t.Run(k.name, func(t *testing.T) {
			testenv.File(t, k.path, "kubectl "+k.name)
			t.Run("version", func(t *testing.T) {
				var v struct {
					ServerVersion struct{ GitVersion, Major, Minor string }
				}
				out := kubectl(t, k.path, direct, "version", "-o", "json")
				if err := json.Unmarshal(out, &v); err != nil {
					t.Fatalf("kubectl version -o json: %v\n%s", err, out)
				}
				if v.ServerVersion.GitVersion != kapitest.Version {
					t.Errorf("server gitVersion %q, want %q", v.ServerVersion.GitVersion, kapitest.Version)
				}
			})
			t.Run("get ns", func(t *testing.T) {
				out := string(kubectl(t, k.path, direct, "get", "ns", "-o", "name"))
				for _, ns := range []string{"namespace/default", "namespace/kube-system"} {
					if !strings.Contains(out, ns) {
						t.Errorf("get ns lacks %s:\n%s", ns, out)
					}
				}
			})
			t.Run("create and get through proxy", func(t *testing.T) {
				name := "kapitest-" + strings.ReplaceAll(k.name, ".", "-")
				kubectl(t, k.path, proxied, "create", "configmap", name, "--from-literal=k=v")
				out := string(kubectl(t, k.path, proxied, "get", "configmap", name, "-o", "jsonpath={.data.k}"))
				if out != "v" {
					t.Errorf("configmap data k = %q, want v", out)
				}
			})
		})
	}

	t.Run("audit shows the proxy", func(t *testing.T) {
		testenv.Eventually(t, "the proxy's source IP in the audit log", func() error {
			ips, err := s.AuditSourceIPs()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(ips, "127.0.0.3") {
				return errors.New("source IPs " + strings.Join(ips, ","))
			}
			return nil
		})
		events, err := s.AuditEvents()
		if err != nil {
			t.Fatal(err)
		}
		var viaProxy, direct int
		for _, e := range events {
			if e.User != kapitest.AdminUser || len(e.SourceIPs) == 0 {
				continue
			}
			switch {
			case strings.Contains(e.RequestURI, "/configmaps"):
				viaProxy++
				if e.SourceIPs[0] != "127.0.0.3" {
					t.Errorf("%s %s from %v, want the proxy's 127.0.0.3", e.Verb, e.RequestURI, e.SourceIPs)
				}
			case strings.HasPrefix(e.RequestURI, "/api/v1/namespaces?"):
				direct++
				if e.SourceIPs[0] == "127.0.0.3" {
					t.Errorf("%s %s came through the proxy, want direct", e.Verb, e.RequestURI)
				}
			}
		}
		if viaProxy == 0 || direct == 0 {
			t.Errorf("audit log has %d configmap and %d namespace-list requests, want both", viaProxy, direct)
		}
	})
}

// kubectl runs a kubectl command with a private cache folder and returns its
// stdout, failing the test on error.
func kubectl(t *testing.T, bin, kubeconfig string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + t.TempDir(), "--request-timeout=30s"}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", bin, strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// startSOCKS5 serves a SOCKS5 proxy on listenIP whose outgoing connections
// come from dialIP.
func startSOCKS5(t *testing.T, listenIP, dialIP string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(listenIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(dialIP)}, Timeout: 10 * time.Second}
	srv := socks5.NewServer(socks5.WithDial(d.DialContext))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
	})
	return l.Addr().String()
}
