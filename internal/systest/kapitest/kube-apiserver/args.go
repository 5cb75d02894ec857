package main

import (
	"fmt"
	"strings"
)

// ownFlags are this binary's flags; everything else goes to kube-apiserver.
type ownFlags struct {
	etcdDir  string // data directory; empty means a temporary one removed on exit
	etcdHost string // loopback IP for etcd's client and peer URLs
}

// splitArgs takes this binary's own flags out of args and returns the rest
// unchanged, in order. It refuses --etcd-servers, which this binary sets.
func splitArgs(args []string) (ownFlags, []string, error) {
	own := ownFlags{etcdHost: "127.0.0.1"}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		var dst *string
		switch name {
		case "embedded-etcd-dir":
			dst = &own.etcdDir
		case "embedded-etcd-host":
			dst = &own.etcdHost
		case "etcd-servers":
			return own, nil, fmt.Errorf("flag --etcd-servers is set by this binary to its embedded etcd")
		default:
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return own, nil, fmt.Errorf("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		*dst = value
	}
	if own.etcdHost == "" {
		return own, nil, fmt.Errorf("flag --embedded-etcd-host is empty")
	}
	return own, rest, nil
}
