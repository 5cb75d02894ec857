package kapitest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/airlockhq/airlock/internal/testenv"
)

// NodeName is the node the kubelet stand-in registers ([Options.Kubelet]).
// Pods run on it when their spec.nodeName names it: there is no scheduler.
const NodeName = "kapitest-node"

// PortAnnotationPrefix, followed by a pod port number, is the pod
// annotation whose value (a loopback host:port) port-forward to that port
// reaches on the stand-in node; without it the port is dialled on 127.0.0.1.
// It is the stand-in's kubelet.PortAnnotationPrefix.
const PortAnnotationPrefix = "kubelet-standin.airlock.dev/port-"

// kubeletArgs are the kube-apiserver flags for reaching kubelets: by their
// InternalIP, verifying their serving certificate by the test CA and
// presenting a client certificate from it.
func kubeletArgs(k *pki) []string {
	return []string{
		"--kubelet-client-certificate=" + k.kubeletClientCertFile,
		"--kubelet-client-key=" + k.kubeletClientKeyFile,
		"--kubelet-certificate-authority=" + k.caFile,
		"--kubelet-preferred-address-types=InternalIP",
	}
}

// kubeletProc is a running kubelet stand-in.
type kubeletProc struct {
	cmd     *exec.Cmd
	logFile string
	exited  chan struct{}
}

// startKubelet runs the stand-in as node [NodeName] with an admin
// kubeconfig and returns once the node reports Ready.
func (s *Server) startKubelet(ctx context.Context, bin string, k *pki, timeout time.Duration) error {
	kubeconfig := filepath.Join(s.Dir, "kubelet", "kubeconfig")
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o700); err != nil {
		return fmt.Errorf("kapitest: kubelet: %w", err)
	}
	if err := s.Kubeconfig(kubeconfig, ""); err != nil {
		return err
	}
	p := &kubeletProc{logFile: filepath.Join(s.Dir, "kubelet.log"), exited: make(chan struct{})}
	logf, err := os.OpenFile(p.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("kapitest: kubelet: %w", err)
	}
	args := []string{
		"--node=" + NodeName,
		"--kubeconfig=" + kubeconfig,
		"--cert=" + k.kubeletCertFile,
		"--key=" + k.kubeletKeyFile,
		"--client-ca=" + k.caFile,
		"--dir=" + filepath.Join(s.Dir, "kubelet"),
	}
	fmt.Fprintf(logf, "# %s %s\n", bin, strings.Join(args, " "))
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("kapitest: start %s: %w", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	s.kubelet = p
	s.KubeletLogFile = p.logFile
	if err := s.waitNodeReady(ctx, timeout); err != nil {
		return fmt.Errorf("kapitest: kubelet stand-in: %w\n%s", err, tailFile(p.logFile, 4000))
	}
	s.Node = NodeName
	return nil
}

// waitNodeReady polls the Node until its Ready condition is True.
func (s *Server) waitNodeReady(ctx context.Context, timeout time.Duration) error {
	client, err := s.HTTPClient()
	if err != nil {
		return err
	}
	client.Timeout = 5 * time.Second
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("node %s not Ready after %s", NodeName, timeout))
	defer cancel()
	return testenv.Poll(ctx, 100*time.Millisecond, func() error {
		select {
		case <-s.kubelet.exited:
			return testenv.Stop(fmt.Errorf("kubelet stand-in exited: %s", s.kubelet.cmd.ProcessState))
		default:
		}
		resp, err := client.Get(s.URL + "/api/v1/nodes/" + NodeName)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("node: status %d", resp.StatusCode)
		}
		var node struct {
			Status struct {
				Conditions []struct{ Type, Status string }
			}
		}
		if err := json.Unmarshal(body, &node); err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				return nil
			}
		}
		return errors.New("node not Ready yet")
	})
}

// stopKubelet ends the stand-in (SIGTERM, which stops its containers, then
// a kill after 20 s) and waits for it.
func (s *Server) stopKubelet() error {
	p := s.kubelet
	if p == nil {
		return nil
	}
	select {
	case <-p.exited:
		return nil
	default:
	}
	if err := terminate(p.cmd.Process); err != nil {
		_ = p.cmd.Process.Kill()
	}
	grace := time.NewTimer(20 * time.Second)
	defer grace.Stop()
	select {
	case <-p.exited:
		return nil
	case <-grace.C:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kapitest: kill kubelet stand-in: %w", err)
	}
	<-p.exited
	return nil
}

// KubeletLogTail returns the last n bytes of the stand-in's log, or "" when
// there is none.
func (s *Server) KubeletLogTail(n int) string {
	if s.KubeletLogFile == "" {
		return ""
	}
	return tailFile(s.KubeletLogFile, n)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return tail(b, n)
}
