package kapitest

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
)

// Run is `kapi-run`: with buildOnly it builds the binary into the cache and
// prints its path on stdout; otherwise it starts a kube-apiserver with
// opts, writes its kubeconfig (default DIR/kubeconfig, with proxyURL when
// set), prints KAPI_URL= and KUBECONFIG= assignments on stdout and serves
// until ctx ends or the server exits.
func Run(ctx context.Context, stdout io.Writer, buildOnly bool, opts Options, kubeconfig, proxyURL string) error {
	if buildOnly {
		bin, err := Build(ctx, opts.BuildLog)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, bin)
		if opts.Kubelet {
			if bin, err = BuildKubelet(ctx, opts.BuildLog); err != nil {
				return err
			}
			fmt.Fprintln(stdout, bin)
		}
		return nil
	}
	s, err := StartProcess(ctx, opts)
	if err != nil {
		return err
	}
	defer s.Close()
	if kubeconfig == "" {
		kubeconfig = filepath.Join(s.Dir, "kubeconfig")
	}
	if err := s.Kubeconfig(kubeconfig, proxyURL); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "KAPI_URL=%s\nKUBECONFIG=%s\n", s.URL, kubeconfig)
	if s.Node != "" {
		fmt.Fprintf(stdout, "KAPI_NODE=%s\n", s.Node)
	}
	select {
	case <-ctx.Done():
		return s.Close()
	case <-s.Exited():
		return fmt.Errorf("kube-apiserver exited:\n%s", s.LogTail(4000))
	}
}
