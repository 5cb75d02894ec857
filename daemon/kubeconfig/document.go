package kubeconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// document is one parsed kubeconfig file: its bytes, its node tree and what is needed
// to map node positions (line, column in characters) back to byte offsets.
type document struct {
	src      []byte
	node     *yaml.Node // the document node; nil for an empty file
	top      *yaml.Node // the top-level mapping; nil for an empty file
	lines    []int      // lines[i] is the byte offset where line i+1 starts
	order    []*yaml.Node
	index    map[*yaml.Node]int // position in order
	end      map[*yaml.Node]int // index in order just past the node's subtree
	clusters []*entry
}

// lineBreaks are the line breaks yaml.v3 counts.
var lineBreaks = [][]byte{[]byte("\r\n"), []byte("\r"), []byte("\n"), []byte("\u0085"), []byte("\u2028"), []byte("\u2029")}

// parseDocument parses a kubeconfig. Errors wrap ErrParse.
func parseDocument(src []byte) (d *document, err error) {
	defer func() {
		// yaml.v3 has panicked on malformed input before; a kubeconfig must not stop
		// the daemon.
		if r := recover(); r != nil {
			d, err = nil, causef(ErrParse, "the YAML parser failed: %v", r)
		}
	}()
	if !utf8.Valid(src) {
		return nil, causef(ErrParse, "not UTF-8 text")
	}
	d = &document{src: src, index: map[*yaml.Node]int{}, end: map[*yaml.Node]int{}}
	d.lines = append(d.lines, 0)
	for i := 0; i < len(src); {
		n := 0
		for _, br := range lineBreaks {
			if bytes.HasPrefix(src[i:], br) {
				n = len(br)
				break
			}
		}
		if n == 0 {
			i++
			continue
		}
		i += n
		d.lines = append(d.lines, i)
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var n yaml.Node
	if err := dec.Decode(&n); errors.Is(err, io.EOF) {
		return d, nil
	} else if err != nil {
		return nil, parseErr(err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, parseErr(err)
		}
		return nil, causef(ErrParse, "more than one YAML document")
	}
	// Decoding into a value catches what the node parser lets through (duplicate keys,
	// excessive aliasing).
	var model any
	if err := n.Decode(&model); err != nil {
		return nil, parseErr(err)
	}
	if len(n.Content) != 1 {
		return nil, causef(ErrParse, "no document")
	}
	d.node = &n
	d.walk(&n)
	top := n.Content[0]
	if top.Kind == yaml.ScalarNode && top.ShortTag() == "!!null" {
		return d, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, causef(ErrParse, "line %d: the top level is not a mapping", top.Line)
	}
	d.top = top
	if err := d.findClusters(); err != nil {
		return nil, err
	}
	return d, nil
}

// walk lists the nodes in document order (pre-order), which is their order in the text.
func (d *document) walk(n *yaml.Node) {
	d.index[n] = len(d.order)
	d.order = append(d.order, n)
	for _, c := range n.Content {
		d.walk(c)
	}
	d.end[n] = len(d.order)
}

// lineStart is the byte offset of a 1-based line; past the last line it is len(src).
func (d *document) lineStart(line int) int {
	if line < 1 {
		return 0
	}
	if line > len(d.lines) {
		return len(d.src)
	}
	return d.lines[line-1]
}

// lineText is the text of a line without its line break.
func (d *document) lineText(line int) []byte {
	s, e := d.lineStart(line), d.lineStart(line+1)
	t := d.src[s:e]
	for _, br := range lineBreaks {
		if bytes.HasSuffix(t, br) {
			return t[:len(t)-len(br)]
		}
	}
	return t
}

// eol is the line break that ends line, or "\n" when it has none.
func (d *document) eol(line int) string {
	t := d.src[d.lineStart(line):d.lineStart(line+1)]
	if bytes.HasSuffix(t, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// offset is the byte offset of a node's position.
func (d *document) offset(n *yaml.Node) (int, error) {
	if n.Line < 1 || n.Line > len(d.lines) || n.Column < 1 {
		return 0, causef(ErrUnsupported, "node has no position")
	}
	text := d.lineText(n.Line)
	off := 0
	for i := 1; i < n.Column; i++ {
		if off >= len(text) {
			return 0, causef(ErrUnsupported, "line %d: column %d is past the end", n.Line, n.Column)
		}
		_, size := utf8.DecodeRune(text[off:])
		off += size
	}
	return d.lineStart(n.Line) + off, nil
}

// indent is the text before n on its line, which must be spaces only: n starts a line
// of a block collection.
func (d *document) indent(n *yaml.Node) (string, error) {
	off, err := d.offset(n)
	if err != nil {
		return "", err
	}
	pre := d.src[d.lineStart(n.Line):off]
	if len(bytes.Trim(pre, " ")) != 0 {
		return "", causef(ErrUnsupported, "line %d: does not start a line", n.Line)
	}
	return string(pre), nil
}

// blankOrComment says whether a line holds nothing but white space and a comment.
func (d *document) blankOrComment(line int) bool {
	t := bytes.TrimLeft(d.lineText(line), " \t")
	return len(t) == 0 || t[0] == '#'
}

// region is the span of whole lines holding the nodes first … last (in document
// order; last's subtree included), from the start of first's line up to the next node
// that follows, without the blank and comment-only lines just before that node.
// seqItem allows "- " before first on its line.
func (d *document) region(first, last *yaml.Node, seqItem bool) (int, int, error) {
	off, err := d.offset(first)
	if err != nil {
		return 0, 0, err
	}
	pre := bytes.Trim(d.src[d.lineStart(first.Line):off], " ")
	if !(len(pre) == 0 || seqItem && string(pre) == "-") {
		return 0, 0, causef(ErrUnsupported, "line %d: does not start a line", first.Line)
	}
	maxLine := first.Line
	for i := d.index[first]; i < d.end[last]; i++ {
		maxLine = max(maxLine, d.order[i].Line)
	}
	endLine := len(d.lines) + 1
	if next := d.end[last]; next < len(d.order) {
		endLine = d.order[next].Line
		if endLine <= maxLine {
			return 0, 0, causef(ErrUnsupported, "line %d: shares a line with what follows", endLine)
		}
	}
	for endLine-1 > maxLine && d.blankOrComment(endLine-1) {
		endLine--
	}
	return d.lineStart(first.Line), d.lineStart(endLine), nil
}

// scalarToken is the byte span of a one-line plain, single- or double-quoted scalar.
func (d *document) scalarToken(n *yaml.Node) (int, int, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, 0, causef(ErrUnsupported, "line %d: not a scalar", n.Line)
	}
	start, err := d.offset(n)
	if err != nil {
		return 0, 0, err
	}
	text := d.lineText(n.Line)[start-d.lineStart(n.Line):]
	end := -1
	switch n.Style {
	case 0:
		end = len(text)
		for i := 1; i < len(text); i++ {
			if text[i] == '#' && (text[i-1] == ' ' || text[i-1] == '\t') {
				end = i
				break
			}
		}
		end = len(bytes.TrimRight(text[:end], " \t"))
		if string(text[:end]) != n.Value {
			end = -1
		}
	case yaml.DoubleQuotedStyle:
		for i := 1; i < len(text); i++ {
			if text[i] == '\\' {
				i++
			} else if text[i] == '"' {
				end = i + 1
				break
			}
		}
	case yaml.SingleQuotedStyle:
		for i := 1; i < len(text); i++ {
			if text[i] == '\'' {
				if i+1 < len(text) && text[i+1] == '\'' {
					i++
					continue
				}
				end = i + 1
				break
			}
		}
	}
	if end <= 0 {
		return 0, 0, causef(ErrUnsupported, "line %d: value is not a one-line string", n.Line)
	}
	return start, start + end, nil
}

// parseErr wraps a yaml error as ErrParse on one line.
func parseErr(err error) error {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	return fmt.Errorf("%w: %s", ErrParse, strings.ReplaceAll(msg, ":;", ":"))
}
