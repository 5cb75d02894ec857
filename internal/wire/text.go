package wire

import (
	"strings"
	"unicode/utf8"
)

// TruncateText makes s fit a frame's text field (a refusal message, a
// close reason): invalid UTF-8 is replaced by "?" (one byte per run, so
// never longer), and s is cut to at most MaxTextLen bytes at a rune
// boundary, so that it always encodes and decodes. Every hop that sends
// such a message uses it.
func TruncateText(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= MaxTextLen {
		return s
	}
	s = s[:MaxTextLen]
	// Drop a rune cut in two (at most utf8.UTFMax-1 bytes of it).
	for range utf8.UTFMax - 1 {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}
