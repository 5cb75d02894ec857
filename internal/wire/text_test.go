package wire

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateText(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int // length of the result
	}{
		{"short", "refused", 7},
		{"exactly the limit", strings.Repeat("a", MaxTextLen), MaxTextLen},
		{"over the limit", strings.Repeat("a", MaxTextLen+5), MaxTextLen},
		{"a rune across the limit", strings.Repeat("a", MaxTextLen-1) + "é", MaxTextLen - 1},
		{"a 4-byte rune across the limit", strings.Repeat("a", MaxTextLen-2) + "😀", MaxTextLen - 2},
		{"invalid UTF-8", "bad \xff\xfe byte", len("bad ? byte")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := TruncateText(tc.in)
			if len(got) != tc.want || !utf8.ValidString(got) || (utf8.ValidString(tc.in) && !strings.HasPrefix(tc.in, got)) {
				t.Fatalf("TruncateText: %d bytes (valid %v), want %d", len(got), utf8.ValidString(got), tc.want)
			}
		})
	}
}
