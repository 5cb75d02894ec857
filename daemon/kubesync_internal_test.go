package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/airlockhq/airlock/daemon/apitype"
	"github.com/airlockhq/airlock/daemon/kubeconfig"
)

func TestAPIKubeconfig(t *testing.T) {
	fileErr := func(cause error) error {
		return &kubeconfig.FileError{Path: "/k/config", Entry: "prod", Err: fmt.Errorf("%w: detail", cause)}
	}
	tests := []struct {
		name     string
		st       kubeconfig.Status
		code     string
		msg      string
		nApplied int
	}{
		{"applied", kubeconfig.Status{Connected: true, Applied: []kubeconfig.Entry{{File: "/k/config", Cluster: "prod"}}}, "", "", 1},
		{"given back", kubeconfig.Status{}, "", "", 0},
		{"parse", kubeconfig.Status{Connected: true, Err: fileErr(kubeconfig.ErrParse)}, apitype.KubeconfigParse, `kubeconfig /k/config: cluster "prod": does not parse: detail`, 0},
		{"locked", kubeconfig.Status{Connected: true, Err: fileErr(kubeconfig.ErrLocked)}, apitype.KubeconfigLocked, "locked by another process", 0},
		{"not writable", kubeconfig.Status{Connected: true, Err: fileErr(kubeconfig.ErrNotWritable)}, apitype.KubeconfigNotWritable, "not writable", 0},
		{"permission", kubeconfig.Status{Connected: true, Err: fileErr(fs.ErrPermission)}, apitype.KubeconfigNotWritable, "permission denied", 0},
		{"unsupported", kubeconfig.Status{Connected: true, Err: fileErr(kubeconfig.ErrUnsupported)}, apitype.KubeconfigUnsupported, "not in a form", 0},
		{"conflict", kubeconfig.Status{Connected: true, Err: fileErr(kubeconfig.ErrConflict)}, apitype.KubeconfigConflict, "another airlock cluster", 0},
		{"verify", kubeconfig.Status{Connected: true, Err: fileErr(kubeconfig.ErrVerify)}, apitype.KubeconfigVerify, "did not verify", 0},
		{"other", kubeconfig.Status{Connected: true, Err: fileErr(errors.New("disk on fire"))}, apitype.KubeconfigError, "disk on fire", 0},
		{"parse before locked", kubeconfig.Status{Connected: true, Err: errors.Join(fileErr(kubeconfig.ErrLocked), fileErr(kubeconfig.ErrParse))}, apitype.KubeconfigParse, "locked by another process: detail; kubeconfig", 0},
		{"missing", kubeconfig.Status{Connected: true, Missing: []string{"prod-eks", "https://x:6443"}}, apitype.KubeconfigEntryMissing, `no kubeconfig cluster entry matches "prod-eks", "https://x:6443"`, 0},
		{"missing after disconnect is no problem", kubeconfig.Status{Missing: []string{"prod-eks"}}, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := apiKubeconfig(tt.st, nil)
			if len(a.Applied) != tt.nApplied {
				t.Errorf("applied = %+v", a.Applied)
			}
			switch {
			case tt.code == "" && a.Problem != nil:
				t.Errorf("problem %+v, want none", a.Problem)
			case tt.code != "" && a.Problem == nil:
				t.Errorf("no problem, want %s", tt.code)
			case tt.code != "" && (a.Problem.Code != tt.code || !strings.Contains(a.Problem.Message, tt.msg)):
				t.Errorf("problem = %+v, want code %s and a message with %q", a.Problem, tt.code, tt.msg)
			}
		})
	}
}
