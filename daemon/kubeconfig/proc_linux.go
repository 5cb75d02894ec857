package kubeconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procStat returns the state and start time (field 22) of a process, ok=false when it
// does not exist.
func procStat(pid int) (state, start string, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", "", false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return "", "", false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}

func procStart(pid int) string {
	_, start, _ := procStat(pid)
	return start
}

func processAlive(pid int, start string) bool {
	state, st, ok := procStat(pid)
	if !ok || state == "Z" || state == "X" {
		return false
	}
	return start == "" || st == start
}

// fileInUse says whether any process has path open. When /proc cannot be read it
// answers true, so a lock is never broken on a guess.
func fileInUse(path string) bool {
	fds, err := filepath.Glob("/proc/[0-9]*/fd/*")
	if err != nil || len(fds) == 0 {
		return true
	}
	for _, fd := range fds {
		if t, err := os.Readlink(fd); err == nil && t == path {
			return true
		}
	}
	return false
}
