package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to the frame decoder: it must never
// panic, must return either a frame or an error, and whatever it accepts
// must encode and decode again to the same frame.
func FuzzReadFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		b, err := AppendFrame(nil, fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{5, 0, 3, 1, 9, 'a'})
	f.Add([]byte{4, 0, 1, 1})
	// Members: a member whose id length runs past its field, and one
	// without an address.
	f.Add([]byte{byte(FrameMembers), 0, 3, 3, 1, 9})
	f.Add([]byte{byte(FrameMembers), 0, 4, 3, 2, 1, 'a'})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := ReadFrame(bytes.NewReader(in))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		enc, err := AppendFrame(nil, fr)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeFrame(enc)
		if err != nil {
			t.Fatalf("decode of re-encoded frame: %v", err)
		}
		if !reflect.DeepEqual(fr, again) {
			t.Fatalf("not stable: %#v vs %#v", fr, again)
		}
	})
}

// FuzzCheckTarget checks that the target and hostname checks never panic on
// what a peer sends.
func FuzzCheckTarget(f *testing.F) {
	for _, s := range []string{"127.0.0.1:6443", "[::1]:1", "h:0", "nohost", ":80", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = CheckTarget(s)
		_ = CheckHostname(s)
	})
}
