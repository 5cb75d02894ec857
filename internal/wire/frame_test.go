package wire

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

func sampleFrames() map[string]Frame {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
	return map[string]Frame{
		"hello client":     &Hello{Version: Version, Role: RoleClient, Software: "airlock test"},
		"hello connector":  &Hello{Version: Version, Role: RoleConnector, TunnelID: "t1", Secret: "s", ConnectorID: "c1", ConnIndex: 1, Assertions: true, Members: true},
		"members":          &Members{Fleet: "f1", Generation: 7, Members: []Member{{ID: "edge-a", Addr: "edge-a.example.com:7844"}, {ID: "edge-b", Addr: "[::1]:7844"}}},
		"members alone":    &Members{Members: []Member{{ID: "edge-a", Addr: "127.0.0.1:7844"}}},
		"welcome":          &Welcome{Version: Version, EdgeID: "e1", ConnID: "42", Keys: []PublicKey{{ID: "k1", Key: key}}},
		"welcome refusal":  &Welcome{Version: Version, Code: CodeUnauthenticated, Message: "bad secret"},
		"welcome pings":    &Welcome{Version: Version, EdgeID: "e1", ConnID: "43", Pings: true},
		"welcome handover": &Welcome{Version: Version, EdgeID: "e1", ConnID: "44", Pings: true, Handover: true},
		"drain serving":    &Drain{Reason: "connector shutting down", Serving: true},
		"ping":             &Ping{Padding: PingPadding},
		"ping bare":        &Ping{},
		"drain":            &Drain{Reason: "shutting down"},
		"keys":             &Keys{Keys: []PublicKey{{ID: "k1", Key: key}, {ID: "k2", Key: key}}},
		"open":             &Open{App: "k8s.demo.test", Token: "tok", Target: "10.0.0.1:6443"},
		"dial":             &Dial{App: "k8s.demo.test", Target: "kubernetes:443", Email: "a@b.c", Subject: "u1", StreamID: "s1", Assertion: "a.b.c"},
		"result ok":        &Result{},
		"result refusal":   &Result{Code: CodeForbidden, Message: "no"},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for name, f := range sampleFrames() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrame(&buf, f); err != nil {
				t.Fatal(err)
			}
			enc := append([]byte(nil), buf.Bytes()...)
			got, err := ReadFrame(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, f) {
				t.Fatalf("round trip: got %#v, want %#v", got, f)
			}
			got2, err := DecodeFrame(enc)
			if err != nil || !reflect.DeepEqual(got2, f) {
				t.Fatalf("DecodeFrame: %#v, %v", got2, err)
			}
			got3, err := ReadFrame(bufio.NewReader(bytes.NewReader(enc)))
			if err != nil || !reflect.DeepEqual(got3, f) {
				t.Fatalf("ReadFrame via bufio: %#v, %v", got3, err)
			}
		})
	}
}

func TestReadFrameOf(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, &Drain{}); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFrameOf[*Open](&buf)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeBadRequest || !strings.Contains(e.Message, "expected a open frame, got drain") {
		t.Fatalf("err = %v, want bad request naming both types", err)
	}
}

func TestBadFrames(t *testing.T) {
	enc := func(f Frame) []byte {
		b, err := AppendFrame(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want string // substring of the error; "" means an I/O error
	}{
		{"empty", nil, ""},
		{"short header", []byte{5, 0}, ""},
		{"unknown type", []byte{99, 0, 0}, "unknown frame type 99"},
		{"too large", []byte{5, 0xff, 0xff}, "exceeds the limit"},
		{"truncated payload", []byte{5, 0, 10, 1, 2}, ""},
		{"field past end", []byte{5, 0, 3, 1, 9, 'a'}, "says 9 bytes but 1 remain"},
		{"bad uvarint length", []byte{5, 0, 3, 1, 0xff, 0xff}, "bad length"},
		{"open without app", []byte{byte(FrameOpen), 0, 0}, "app: hostname is empty"},
		{"bad hostname", enc(&Open{App: "a b"}), "bad character"},
		{"bad target", enc(&Open{App: "a.b", Target: "nohost"}), "target"},
		{"target port zero", enc(&Open{App: "a.b", Target: "h:0"}), "bad port"},
		{"invalid utf8", []byte{byte(FrameDrain), 0, 3, 1, 1, 0xff}, "not valid UTF-8"},
		{"hello without version", enc(&Hello{Role: RoleClient}), "version is missing"},
		{"hello bad role", enc(&Hello{Version: 1, Role: 9}), "unknown role 9"},
		{"connector without secret", enc(&Hello{Version: 1, Role: RoleConnector, TunnelID: "t"}), "tunnel id and secret"},
		{"dial without app", enc(&Dial{Assertion: "a.b.c"}), "app: hostname is empty"},
		{"assertion too long", enc(&Dial{App: "a.b", Assertion: strings.Repeat("x", MaxTokenLen+1)}), "assertion is 8193 bytes"},
		{"hello assertions not a bool", []byte{byte(FrameHello), 0, 6, 1, 1, 1, 8, 1, 2}, "assertions 2 exceeds 1"},
		{"keys empty", enc(&Keys{}), "no keys"},
		{"short key", []byte{byte(FrameKeys), 0, 3, 1, 1, 0}, "shorter than an Ed25519 key"},
		{"uvarint with trailing bytes", []byte{byte(FrameResult), 0, 4, 1, 2, 1, 1}, "not a valid uvarint"},
		{"token too long", enc(&Open{App: "a.b", Token: strings.Repeat("x", MaxTokenLen+1)}), "token is 8193 bytes"},
		{"ping padding too long", append([]byte{byte(FramePing), 0x04, 0x04, 1, 0x81, 0x08}, make([]byte, MaxPingPadding+1)...), "padding of 1025 bytes"},
		{"members too many", enc(&Members{Members: manyMembers(MaxMembers + 1)}), "more than 32 members"},
		{"member twice", enc(&Members{Members: []Member{{ID: "a", Addr: "h:1"}, {ID: "a", Addr: "h:2"}}}), "member a is listed twice"},
		{"member without id", enc(&Members{Members: []Member{{Addr: "h:1"}}}), "member id is empty"},
		{"member id too long", enc(&Members{Members: []Member{{ID: strings.Repeat("x", MaxEdgeIDLen+1), Addr: "h:1"}}}), "member id is 129 bytes"},
		{"member bad address", enc(&Members{Members: []Member{{ID: "a", Addr: "nohost"}}}), "member a: address"},
		{"member address too long", enc(&Members{Members: []Member{{ID: "a", Addr: strings.Repeat("h", 300) + ":1"}}}), "member address is 302 bytes"},
		{"member id length past end", []byte{byte(FrameMembers), 0, 3, 3, 1, 9}, "bad id length"},
		{"members fleet too long", enc(&Members{Fleet: strings.Repeat("f", MaxEdgeIDLen+1)}), "fleet is 129 bytes"},
		{"hello members not a bool", []byte{byte(FrameHello), 0, 6, 1, 1, 1, 9, 1, 2}, "members 2 exceeds 1"},
		{"welcome pings not a bool", []byte{byte(FrameWelcome), 0, 6, 1, 1, 1, 7, 1, 2}, "pings 2 exceeds 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in))
			if err == nil {
				t.Fatal("decoded malformed input without error")
			}
			if tc.want == "" {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("err = %v, want an EOF", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeBadRequest {
				t.Fatalf("err = %v, want a bad request *Error", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to name %q", err, tc.want)
			}
		})
	}
}

// manyMembers is n members with distinct ids.
func manyMembers(n int) []Member {
	out := make([]Member, n)
	for i := range out {
		out[i] = Member{ID: fmt.Sprintf("edge-%d", i), Addr: fmt.Sprintf("edge-%d.example.com:7844", i)}
	}
	return out
}

// TestMembersFitAFrame: the largest Members frame the bounds allow encodes.
func TestMembersFitAFrame(t *testing.T) {
	m := &Members{Fleet: strings.Repeat("f", MaxEdgeIDLen), Generation: 1 << 62, Members: make([]Member, MaxMembers)}
	for i := range m.Members {
		m.Members[i] = Member{ID: fmt.Sprintf("%0*d", MaxEdgeIDLen, i), Addr: strings.Repeat("h", MaxHostnameLen) + ":65535"}
	}
	b, err := AppendFrame(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeFrame(b)
	if err != nil || len(got.(*Members).Members) != MaxMembers {
		t.Fatalf("decode: %v", err)
	}
	t.Logf("largest members frame: %d bytes of %d", len(b), MaxFrameSize)
}

func TestUnknownFieldsAreSkipped(t *testing.T) {
	b, err := AppendFrame(nil, &Result{Code: CodeForbidden})
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, 200, 2, 'x', 'y')
	b[2] += 4
	f, err := DecodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if r := f.(*Result); r.Code != CodeForbidden {
		t.Fatalf("code = %v", r.Code)
	}
}

func TestEncodeTooLarge(t *testing.T) {
	_, err := AppendFrame(nil, &Drain{Reason: strings.Repeat("x", MaxFrameSize)})
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
}

func TestCheckHostname(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"k8s.prod.example.com", true},
		{"localhost", true},
		{"a_b.c", true},
		{"", false},
		{".a", false},
		{"a..b", false},
		{"a.", false},
		{strings.Repeat("a", 64) + ".b", false},
		{"a/b", false},
		{"a-b.c-d", true},
		{"a--b", true},
		{"-a", false},
		{"a-", false},
		{"a.-b", false},
		{"a-.b", false},
		{"a.b-", false},
		{"-", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if err := CheckHostname(tc.in); (err == nil) != tc.ok {
				t.Fatalf("CheckHostname(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}
