package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// quicBufferSize is the UDP receive and send buffer quic-go asks for on
// each socket (desiredBufferSize in internal/third_party/quic-go's
// sys_conn_buffers_nonopenbsd.go). Linux grants twice the request capped
// at net.core.rmem_max (wmem_max), and quic-go is content when getsockopt
// reports at least this much; without CAP_NET_ADMIN (SO_RCVBUFFORCE) the
// daemon, running as the user, gets no more than that.
const quicBufferSize = 7 << 20

// socketBufferCheck says whether the kernel lets quic-go size its UDP
// socket buffers; read reads a file (os.ReadFile). Where the files do not
// exist (not Linux) there is nothing to check and it returns false.
func socketBufferCheck(read func(string) ([]byte, error)) (check, bool) {
	// The kernel caps doctor reads, with the socket buffer each caps.
	sysctls := [...]struct{ name, path, buffer string }{
		{"net.core.rmem_max", "/proc/sys/net/core/rmem_max", "receive"},
		{"net.core.wmem_max", "/proc/sys/net/core/wmem_max", "send"},
	}
	var low, seen []string
	for _, s := range sysctls {
		b, err := read(s.path)
		if errors.Is(err, fs.ErrNotExist) {
			return check{}, false
		}
		if err != nil {
			return check{checkWarn, "socket buffers", fmt.Sprintf("cannot read %s: %v", s.name, err), ""}, true
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return check{checkWarn, "socket buffers", fmt.Sprintf("%s is %q, not a number", s.name, strings.TrimSpace(string(b))), ""}, true
		}
		seen = append(seen, fmt.Sprintf("%s=%d", s.name, v))
		if 2*v < quicBufferSize {
			low = append(low, fmt.Sprintf("%s %s (%s, %s granted)", s.buffer, s.name, size(v), size(2*v)))
		}
	}
	if len(low) == 0 {
		return check{checkOK, "socket buffers", strings.Join(seen, ", ") + fmt.Sprintf(": QUIC gets the %s it asks for", size(quicBufferSize)), ""}, true
	}
	return check{checkWarn, "socket buffers",
		fmt.Sprintf("the kernel caps UDP socket buffers below the %s QUIC asks for: %s; bulk transfers through Airlock (kubectl cp, logs, port-forward) may drop packets and slow down",
			size(quicBufferSize), strings.Join(low, ", ")),
		"sudo sysctl -w net.core.rmem_max=7500000 net.core.wmem_max=7500000, and the same two lines in /etc/sysctl.d/60-airlock.conf to keep them"}, true
}

// size is n bytes in KiB or MiB.
func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
