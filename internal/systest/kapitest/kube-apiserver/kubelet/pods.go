package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// PortAnnotationPrefix, followed by a port number, names the loopback
// address that port-forward to that pod port reaches, e.g.
// "kubelet-standin.airlock.dev/port-8080: 127.0.0.1:43121". Without it the
// port is dialled on 127.0.0.1.
const PortAnnotationPrefix = "kubelet-standin.airlock.dev/port-"

// pods runs the containers of the pods bound to this node.
type pods struct {
	client kubernetes.Interface
	dir    string
	log    *slog.Logger

	mu   sync.Mutex
	byNS map[string]*pod // "namespace/name"
}

// pod is a running pod: its containers and the annotations port-forward reads.
type pod struct {
	uid         types.UID
	annotations map[string]string
	containers  map[string]*container
}

func newPods(client kubernetes.Interface, dir string, log *slog.Logger) *pods {
	return &pods{client: client, dir: dir, log: log, byNS: map[string]*pod{}}
}

func podKey(namespace, name string) string { return namespace + "/" + name }

// sync starts a new pod's containers and reports it running, or stops a
// deleted one's and removes it.
func (ps *pods) sync(ctx context.Context, p *corev1.Pod) {
	key := podKey(p.Namespace, p.Name)
	if p.DeletionTimestamp != nil {
		ps.remove(key, p.UID)
		err := ps.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64),
			Preconditions:      &metav1.Preconditions{UID: &p.UID},
		})
		if err != nil {
			ps.log.Warn("delete pod", "pod", key, "err", err)
		}
		return
	}
	ps.mu.Lock()
	cur, ok := ps.byNS[key]
	if ok && cur.uid == p.UID {
		cur.annotations = p.Annotations
		ps.mu.Unlock()
		return
	}
	ps.mu.Unlock()
	if ok { // same name, new pod
		ps.remove(key, cur.uid)
	}
	started, err := ps.start(p)
	if err != nil {
		ps.log.Error("start pod", "pod", key, "err", err)
		return
	}
	ps.mu.Lock()
	ps.byNS[key] = started
	ps.mu.Unlock()
	if err := ps.reportRunning(ctx, p); err != nil {
		ps.log.Error("pod status", "pod", key, "err", err)
		return
	}
	ps.log.Info("pod running", "pod", key)
}

func (ps *pods) start(p *corev1.Pod) (*pod, error) {
	out := &pod{uid: p.UID, annotations: p.Annotations, containers: map[string]*container{}}
	for _, spec := range p.Spec.Containers {
		dir := filepath.Join(ps.dir, "pods", fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, p.UID), spec.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			out.stop()
			return nil, err
		}
		c, err := startContainer(dir, spec)
		if err != nil {
			out.stop()
			return nil, fmt.Errorf("container %s: %w", spec.Name, err)
		}
		out.containers[spec.Name] = c
	}
	return out, nil
}

func (p *pod) stop() {
	for _, c := range p.containers {
		c.stop()
	}
}

// remove stops the pod key if it is still the one with uid.
func (ps *pods) remove(key string, uid types.UID) {
	ps.mu.Lock()
	p, ok := ps.byNS[key]
	if ok && p.uid == uid {
		delete(ps.byNS, key)
	}
	ps.mu.Unlock()
	if ok && p.uid == uid {
		p.stop()
	}
}

// stopAll stops every pod's containers.
func (ps *pods) stopAll() {
	ps.mu.Lock()
	all := ps.byNS
	ps.byNS = map[string]*pod{}
	ps.mu.Unlock()
	for _, p := range all {
		p.stop()
	}
}

// reportRunning writes the pod's status: Running, every container running
// and ready, on the node's address.
func (ps *pods) reportRunning(ctx context.Context, p *corev1.Pod) error {
	now := metav1.Now()
	st := p.DeepCopy()
	st.Status.Phase = corev1.PodRunning
	st.Status.HostIP = nodeIP
	st.Status.HostIPs = []corev1.HostIP{{IP: nodeIP}}
	st.Status.PodIP = nodeIP
	st.Status.PodIPs = []corev1.PodIP{{IP: nodeIP}}
	st.Status.StartTime = &now
	st.Status.Conditions = nil
	for _, c := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		st.Status.Conditions = append(st.Status.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	st.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		st.Status.ContainerStatuses = append(st.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     "standin://" + c.Image,
			ContainerID: "standin://" + string(p.UID) + "/" + c.Name,
			Ready:       true,
			Started:     new(true),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err := ps.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, st, metav1.UpdateOptions{})
	return err
}

// running tells whether pod key runs here.
func (ps *pods) running(key string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	_, ok := ps.byNS[key]
	return ok
}

// container finds a running container; container "" means the pod's only one.
func (ps *pods) container(key, name string) (*container, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.byNS[key]
	if !ok {
		return nil, fmt.Errorf("pod %s is not running on this node", key)
	}
	if name == "" && len(p.containers) == 1 {
		for _, c := range p.containers {
			return c, nil
		}
	}
	c, ok := p.containers[name]
	if !ok {
		return nil, fmt.Errorf("pod %s has no container %q", key, name)
	}
	return c, nil
}

// ExecInContainer implements remotecommand.Executor; name is a pod key.
func (ps *pods) ExecInContainer(ctx context.Context, name, _ string, containerName string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	c, err := ps.container(name, containerName)
	if err != nil {
		return err
	}
	return c.exec(ctx, cmd, in, out, errw, tty, resize)
}

// AttachContainer implements remotecommand.Attacher; name is a pod key.
func (ps *pods) AttachContainer(ctx context.Context, name, _ string, containerName string, in io.Reader, out, errw io.WriteCloser, _ bool, resize <-chan remotecommand.TerminalSize) error {
	c, err := ps.container(name, containerName)
	if err != nil {
		return err
	}
	return c.attach(ctx, in, out, errw, resize)
}

// PortForward implements portforward.PortForwarder; name is a pod key. It
// dials the address the pod's annotation names for port, else the port on
// 127.0.0.1, and copies both ways until both directions end.
func (ps *pods) PortForward(ctx context.Context, name, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	ps.mu.Lock()
	p, ok := ps.byNS[name]
	var target string
	if ok {
		target = p.annotations[PortAnnotationPrefix+strconv.Itoa(int(port))]
	}
	ps.mu.Unlock()
	if !ok {
		return fmt.Errorf("pod %s is not running on this node", name)
	}
	if target == "" {
		target = net.JoinHostPort(nodeIP, strconv.Itoa(int(port)))
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return fmt.Errorf("port %d of pod %s: %w", port, name, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	up := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		up <- err
	}()
	// The origin's end is the stream's end: a client that stops sending
	// still gets the rest of the answer.
	_, err = io.Copy(stream, conn)
	_ = stream.Close()
	_ = conn.Close()
	<-up
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
