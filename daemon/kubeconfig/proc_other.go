//go:build !unix

package kubeconfig

import "os"

func procStart(int) string { return "" }

func processAlive(pid int, _ string) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}

func fileInUse(string) bool { return false }
