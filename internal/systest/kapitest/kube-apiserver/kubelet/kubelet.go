// Package kubelet is a kubelet stand-in for tests: one node whose streaming
// API is the real kubelet's library (k8s.io/cri-streaming: exec, attach and
// port-forward over SPDY and WebSocket) and whose containers are local
// processes.
//
// It registers a Node (InternalIP 127.0.0.1, its TLS port as the kubelet
// endpoint, Ready), renews the node's Lease, and runs the pods bound to it
// (spec.nodeName; there is no scheduler): each container's command runs as a
// process in a folder of its own (cat when it names none), its output goes
// to a log file, and the pod is reported Running. It serves what the
// kube-apiserver asks of a kubelet:
//
//	/exec/NS/POD/CONTAINER        the command as a new local process, on a terminal with -t
//	/attach/NS/POD/CONTAINER      the container's main process
//	/containerLogs/NS/POD/CONTAINER  its log file, followed with follow=true
//	/portForward/NS/POD           to the address annotation PortAnnotationPrefix+PORT names, else 127.0.0.1:PORT
//
// TLS with a serving certificate for 127.0.0.1; clients must present a
// certificate from the client CA.
package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// nodeIP is the node's only address, and every pod's.
const nodeIP = "127.0.0.1"

// leaseEvery is how often the node's Lease is renewed (the kubelet's
// default is a quarter of its 40 s lease).
const leaseEvery = 10 * time.Second

// Stream timeouts as the kubelet's defaults.
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// Config configures [Run].
type Config struct {
	NodeName   string // required
	Kubeconfig string // credentials that may write nodes, leases and pod status
	// Addr is the loopback address to listen on; "" means 127.0.0.1:0.
	Addr         string
	CertFile     string // serving certificate, valid for 127.0.0.1
	KeyFile      string
	ClientCAFile string // CA of the kube-apiserver's client certificate
	Dir          string // containers' folders and logs
	Log          *slog.Logger
}

// Run serves until ctx ends, then stops every container.
func Run(ctx context.Context, cfg Config) error {
	if cfg.NodeName == "" || cfg.Dir == "" {
		return errors.New("kubelet: node name and folder are required")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tlsCfg, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	rest, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubelet: kubeconfig: %w", err)
	}
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return fmt.Errorf("kubelet: client: %w", err)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = net.JoinHostPort(nodeIP, "0")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("kubelet: listen: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ps := newPods(client, cfg.Dir, log)
	defer ps.stopAll()
	srv := &http.Server{Handler: newHandler(ps, log), TLSConfig: tlsCfg, ReadHeaderTimeout: 30 * time.Second}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		err := srv.ServeTLS(ln, "", "")
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("kubelet: serve: %w", err)
	})
	g.Go(func() error {
		<-ctx.Done()
		return srv.Close()
	})
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	}))
	inf := factory.Core().V1().Pods().Informer()
	onPod := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok {
			ps.sync(ctx, p)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onPod,
		UpdateFunc: func(_, obj any) { onPod(obj) },
		DeleteFunc: func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				ps.remove(podKey(p.Namespace, p.Name), p.UID)
			}
		},
	}); err != nil {
		return fmt.Errorf("kubelet: pod informer: %w", err)
	}
	g.Go(func() error {
		factory.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
			return ctx.Err()
		}
		// Ready only once pods are watched and the port serves.
		if err := registerNode(ctx, client, cfg.NodeName, port); err != nil {
			return err
		}
		log.Info("node ready", "node", cfg.NodeName, "port", port)
		factory.Shutdown()
		return nil
	})
	g.Go(func() error { return renewLease(ctx, client, cfg.NodeName, log) })
	err = g.Wait()
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// serverTLS serves cfg's certificate and requires a client certificate
// from its client CA.
func serverTLS(cfg Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("kubelet: serving certificate: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("kubelet: client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("kubelet: client CA holds no certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"}, // SPDY and WebSocket upgrades need HTTP/1.1
	}, nil
}

// registerNode creates (or takes over) the Node and reports it Ready on
// 127.0.0.1 with its kubelet port.
func registerNode(ctx context.Context, client kubernetes.Interface, name string, port int) error {
	nodes := client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kubelet-standin"},
		}}, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("kubelet: register node: %w", err)
	}
	now := metav1.Now()
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}, {Type: corev1.NodeHostName, Address: name}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
	node.Status.Conditions = []corev1.NodeCondition{{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet stand-in is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
	}}
	node.Status.NodeInfo.KubeletVersion = "v1.37.2-standin"
	node.Status.NodeInfo.OperatingSystem = "linux"
	node.Status.NodeInfo.Architecture = "amd64"
	node.Status.NodeInfo.ContainerRuntimeVersion = "standin://1"
	if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("kubelet: node status: %w", err)
	}
	return nil
}

// renewLease keeps the node's Lease in kube-node-lease fresh, as the
// kubelet's heartbeat does.
func renewLease(ctx context.Context, client kubernetes.Interface, name string, log *slog.Logger) error {
	leases := client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	seconds := int32(4 * leaseEvery / time.Second)
	renew := func() error {
		now := metav1.NewMicroTime(time.Now())
		l, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &seconds, RenewTime: &now},
			}, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &name, &seconds, &now
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	}
	t := time.NewTicker(leaseEvery)
	defer t.Stop()
	for {
		if err := renew(); err != nil && ctx.Err() == nil {
			log.Warn("renew lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// newHandler routes the kubelet's streaming and log paths.
func newHandler(ps *pods, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		opts, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		key := podKey(r.PathValue("ns"), r.PathValue("pod"))
		if _, err := ps.container(key, r.PathValue("container")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		log.Info("exec", "pod", key, "container", r.PathValue("container"), "tty", opts.TTY, "websocket", isWebSocket(r))
		remotecommand.ServeExec(w, r, ps, key, "", r.PathValue("container"), r.URL.Query()["command"], opts,
			streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	})
	mux.HandleFunc("/attach/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		opts, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		key := podKey(r.PathValue("ns"), r.PathValue("pod"))
		if _, err := ps.container(key, r.PathValue("container")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		log.Info("attach", "pod", key, "container", r.PathValue("container"), "tty", opts.TTY, "websocket", isWebSocket(r))
		remotecommand.ServeAttach(w, r, ps, key, "", r.PathValue("container"), opts,
			streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	})
	mux.HandleFunc("/portForward/{ns}/{pod}", func(w http.ResponseWriter, r *http.Request) {
		key := podKey(r.PathValue("ns"), r.PathValue("pod"))
		if !ps.running(key) {
			http.Error(w, "pod "+key+" is not running on this node", http.StatusNotFound)
			return
		}
		opts, err := portforward.NewV4Options(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.Info("port-forward", "pod", key, "websocket", isWebSocket(r))
		portforward.ServePortForward(w, r, ps, key, "", opts, streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
	})
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		c, err := ps.container(podKey(r.PathValue("ns"), r.PathValue("pod")), r.PathValue("container"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		c.log.serve(r.Context(), w, r.URL.Query())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

func isWebSocket(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "websocket"
}
