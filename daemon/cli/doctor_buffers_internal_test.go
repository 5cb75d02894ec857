package cli

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestSocketBufferCheck(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string // path → content; a missing path does not exist
		err     error             // returned for every path instead
		present bool
		verdict string
		want    []string
	}{
		{name: "debian default caps both", files: map[string]string{"/proc/sys/net/core/rmem_max": "212992\n", "/proc/sys/net/core/wmem_max": "212992\n"},
			present: true, verdict: checkWarn,
			want: []string{"below the 7 MiB QUIC asks for", "receive net.core.rmem_max (208 KiB, 416 KiB granted)", "send net.core.wmem_max", "sudo sysctl -w net.core.rmem_max=7500000"}},
		{name: "4 MiB is enough: the kernel doubles it", files: map[string]string{"/proc/sys/net/core/rmem_max": "4194304", "/proc/sys/net/core/wmem_max": "4194304"},
			present: true, verdict: checkOK, want: []string{"net.core.rmem_max=4194304, net.core.wmem_max=4194304: QUIC gets the 7 MiB it asks for"}},
		{name: "only the send side capped", files: map[string]string{"/proc/sys/net/core/rmem_max": "7500000", "/proc/sys/net/core/wmem_max": "1048576"},
			present: true, verdict: checkWarn, want: []string{"send net.core.wmem_max (1 MiB, 2 MiB granted)"}},
		{name: "not linux", files: map[string]string{}, present: false},
		{name: "garbage", files: map[string]string{"/proc/sys/net/core/rmem_max": "lots", "/proc/sys/net/core/wmem_max": "1"},
			present: true, verdict: checkWarn, want: []string{`net.core.rmem_max is "lots", not a number`}},
		{name: "unreadable", err: fs.ErrPermission, present: true, verdict: checkWarn, want: []string{"cannot read net.core.rmem_max"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := func(path string) ([]byte, error) {
				if tt.err != nil {
					return nil, tt.err
				}
				v, ok := tt.files[path]
				if !ok {
					return nil, fs.ErrNotExist
				}
				return []byte(v), nil
			}
			c, present := socketBufferCheck(read)
			if present != tt.present {
				t.Fatalf("present = %v, want %v", present, tt.present)
			}
			if !present {
				return
			}
			if c.verdict != tt.verdict || c.what != "socket buffers" {
				t.Errorf("verdict %q what %q, want %q socket buffers", c.verdict, c.what, tt.verdict)
			}
			var b strings.Builder
			printChecks(&b, []check{c})
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
	if _, present := socketBufferCheck(func(string) ([]byte, error) { return nil, errors.New("x") }); !present {
		t.Error("a read error hides the check")
	}
}
