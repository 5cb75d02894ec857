package transport_test

import (
	"bytes"
	"testing"

	"github.com/airlockhq/airlock/internal/transport"
)

// FuzzReadFrame feeds the TCP transport's frame decoder arbitrary bytes:
// it returns a frame or an error, never panics, and never reads more
// than a frame's bounded header and message.
func FuzzReadFrame(f *testing.F) {
	f.Add(transport.AppendFrame(nil, 1, 5, 0, ""))
	f.Add(transport.AppendFrame(nil, 2, 0, 0, ""))
	f.Add(transport.AppendFrame(nil, 3, 0, 6, ""))
	f.Add(transport.AppendFrame(nil, 16, 4096, 0, ""))
	f.Add(transport.AppendFrame(nil, 17, 0, 10, "edge shutting down"))
	f.Add(transport.AppendFrame(nil, 18, 7, 0, ""))
	f.Add([]byte{17, 0, 1, 0xff, 0xff})
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for range 64 {
			before := r.Len()
			if _, err := transport.ReadFrame(r); err != nil {
				return
			}
			if used := before - r.Len(); used > 5+1024 {
				t.Fatalf("one frame header used %d bytes", used)
			}
		}
	})
}
