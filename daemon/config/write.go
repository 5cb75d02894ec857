package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/airlockhq/airlock/internal/atomicfile"
	"gopkg.in/yaml.v3"
)

// The lines `airlock join` writes carry these marks, so that `airlock
// leave` can take back exactly what join added.
const (
	// joinHeader opens a file join created.
	joinHeader = "# Written by `airlock join`; `airlock leave` removes it. You may add to it."
	// joinKeyMark ends an "edges:" line join added to a file that had none.
	joinKeyMark = " # added by airlock join"
)

// ErrEdgeExists is returned by AddEdge when the file already has an edge of
// that name.
var ErrEdgeExists = errors.New("the configuration already has an edge of that name")

// ErrNotEditable is returned when the file is in a form AddEdge and
// RemoveEdge do not rewrite (flow style, anchors, several documents).
var ErrNotEditable = errors.New("the configuration file is in a form airlock does not edit")

// AddEdge adds e (Name, Addresses, CA PEM, ServerName, AuthURL, Catalogue,
// KubeconfigPrefix) to the configuration file at path, creating the file
// (and its folder) when missing. Every other byte of the file stays as it
// was: the edge is spliced in after the last item of edges: (or a new
// edges: key is added at the end), and RemoveEdge takes exactly those lines
// back out. The result must load; the file is replaced atomically.
func AddEdge(path string, e Edge) error {
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("create the configuration folder: %w", err)
		}
		out := joinHeader + "\nedges:\n" + edgeItem(e, "  ", "    ")
		return writeChecked(path, []byte(out), nil, 0o600, e.Name)
	}
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	top, err := topMapping(src)
	if err != nil {
		return err
	}
	out, err := spliceEdge(src, top, e)
	if err != nil {
		return err
	}
	return writeChecked(path, out, src, info.Mode().Perm(), e.Name)
}

func spliceEdge(src []byte, top *yaml.Node, e Edge) ([]byte, error) {
	lines := lineOffsets(src)
	var key, seq *yaml.Node
	if top != nil {
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == "edges" {
				key, seq = top.Content[i], top.Content[i+1]
			}
		}
	}
	switch {
	case seq == nil:
		out := bytes.Clone(src)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, "edges:"+joinKeyMark+"\n"+edgeItem(e, "  ", "    ")...), nil
	case seq.Kind == yaml.ScalarNode && seq.ShortTag() == "!!null":
		at := lineStart(lines, key.Line+1, len(src))
		return splice(src, at, edgeItem(e, "  ", "    ")), nil
	case seq.Kind != yaml.SequenceNode || seq.Style&yaml.FlowStyle != 0 || len(seq.Content) == 0:
		return nil, fmt.Errorf("%w: line %d: edges is not a block list (- name: …); add the edge by hand", ErrNotEditable, key.Line)
	}
	for _, it := range seq.Content {
		if it.Kind != yaml.MappingNode || it.Style&yaml.FlowStyle != 0 {
			return nil, fmt.Errorf("%w: line %d: an edge is not a block mapping", ErrNotEditable, it.Line)
		}
		for i := 0; i+1 < len(it.Content); i += 2 {
			if it.Content[i].Value == "name" && it.Content[i+1].Value == e.Name {
				return nil, fmt.Errorf("%w: %q (line %d)", ErrEdgeExists, e.Name, it.Line)
			}
		}
	}
	first := seq.Content[0]
	dash := strings.Repeat(" ", max(seq.Column-1, 0))
	keys := strings.Repeat(" ", max(first.Column-1, 0))
	at := lineStart(lines, maxLine(seq)+1, len(src))
	out := src
	if at == len(src) && len(src) > 0 && src[len(src)-1] != '\n' {
		out = append(bytes.Clone(src), '\n')
		at++
	}
	return splice(out, at, edgeItem(e, dash, keys)), nil
}

// RemoveEdge takes the edge named name out of the file at path, as
// AddEdge put it in: its lines, the edges: key AddEdge added, or the whole
// file when AddEdge created it and nothing else was added since. It is not
// an error when the edge is not there.
func RemoveEdge(path, name string) error {
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	top, err := topMapping(src)
	if err != nil || top == nil {
		return err
	}
	var key, seq *yaml.Node
	next := -1 // line of the node after edges, -1 at the end
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "edges" {
			key, seq = top.Content[i], top.Content[i+1]
			if i+2 < len(top.Content) {
				next = top.Content[i+2].Line
			}
		}
	}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	idx := -1
	for j, it := range seq.Content {
		if n := mapValue(it, "name"); n != nil && n.Value == name {
			idx = j
		}
	}
	if idx < 0 {
		return nil
	}
	if seq.Style&yaml.FlowStyle != 0 {
		return fmt.Errorf("%w: line %d: edges is in flow style; remove edge %q by hand", ErrNotEditable, key.Line, name)
	}
	lines := lineOffsets(src)
	it := seq.Content[idx]
	endLine := next
	if idx+1 < len(seq.Content) {
		endLine = seq.Content[idx+1].Line
	}
	startLine := it.Line
	if len(seq.Content) == 1 && strings.HasSuffix(lineText(src, lines, key.Line), joinKeyMark) {
		startLine = key.Line
	}
	start := lineStart(lines, startLine, len(src))
	end := len(src)
	if endLine > 0 {
		// Keep the blank and comment lines that head what follows.
		for endLine-1 > maxLine(it) && blankOrComment(lineText(src, lines, endLine-1)) {
			endLine--
		}
		end = lineStart(lines, endLine, len(src))
	} else {
		for l := len(lines); l > maxLine(it) && blankOrComment(lineText(src, lines, l)); l-- {
			end = lines[l-1]
		}
	}
	out := append(bytes.Clone(src[:start]), src[end:]...)
	if len(seq.Content) == 1 && bytes.Equal(bytes.TrimSpace(out), bytes.TrimSpace([]byte(joinHeader+"\nedges:"))) {
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove the configuration file join wrote: %w", err)
		}
		return nil
	}
	if _, err := topMapping(out); err != nil {
		return fmt.Errorf("%w: removing edge %q would break the file: %v", ErrNotEditable, name, err)
	}
	return atomicfile.Write(path, out, info.Mode().Perm())
}

// writeChecked writes out after checking that it parses and holds edge
// name; an unrelated problem the file already had does not stop it.
func writeChecked(path string, out, old []byte, mode fs.FileMode, name string) error {
	cfg, err := Parse(out, path)
	if err != nil {
		if old == nil {
			return fmt.Errorf("the configuration join would write does not load: %w", err)
		}
		if _, oldErr := Parse(old, path); oldErr == nil {
			return fmt.Errorf("adding the edge would make the configuration fail to load: %w", err)
		}
		// It did not load before either; the new edge is not the cause
		// as long as the result still parses as YAML.
		if _, terr := topMapping(out); terr != nil {
			return terr
		}
	} else if cfg.Edge(name) == nil {
		return fmt.Errorf("%w: the edge did not land in the file", ErrNotEditable)
	}
	return atomicfile.Write(path, out, mode)
}

// edgeItem renders e as a block list item: dash before "- ", keys before
// the other keys.
func edgeItem(e Edge, dash, keys string) string {
	var b strings.Builder
	b.WriteString(dash + "- name: " + yamlScalar(e.Name) + "\n")
	line := func(k, v string) { b.WriteString(keys + k + ": " + v + "\n") }
	if len(e.Addresses) > 0 {
		q := make([]string, len(e.Addresses))
		for i, a := range e.Addresses {
			q[i] = yamlScalar(a)
		}
		line("addresses", "["+strings.Join(q, ", ")+"]")
	} else if e.Address != "" {
		line("address", yamlScalar(e.Address))
	}
	if e.ServerName != "" {
		line("server_name", yamlScalar(e.ServerName))
	}
	if e.AuthURL != "" {
		line("auth_url", yamlScalar(e.AuthURL))
	}
	if e.Catalogue {
		line("catalogue", "true")
	}
	if e.KubeconfigPrefix != "" {
		line("kubeconfig_prefix", yamlScalar(e.KubeconfigPrefix))
	}
	if e.Transport != "" {
		line("transport", yamlScalar(e.Transport))
	}
	if e.QUICRetry != 0 {
		line("quic_retry", e.QUICRetry.String())
	}
	if pem := strings.TrimSpace(e.CA); pem != "" {
		b.WriteString(keys + "ca: |\n")
		for _, l := range strings.Split(pem, "\n") {
			b.WriteString(keys + "  " + strings.TrimRight(l, "\r") + "\n")
		}
	}
	return b.String()
}

// yamlScalar quotes s the way yaml.v3 would when it needs quoting.
func yamlScalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// topMapping parses src and returns its top-level mapping (nil for an
// empty file), refusing what AddEdge and RemoveEdge do not edit.
func topMapping(src []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%w: invalid YAML: %v", ErrNotEditable, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode || top.Style&yaml.FlowStyle != 0 {
		return nil, fmt.Errorf("%w: the top level is not a block mapping", ErrNotEditable)
	}
	if hasAnchors(top) {
		return nil, fmt.Errorf("%w: it uses YAML anchors or aliases", ErrNotEditable)
	}
	return top, nil
}

func hasAnchors(n *yaml.Node) bool {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAnchors(c) {
			return true
		}
	}
	return false
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// maxLine is the last line a node's subtree starts a node on; a block
// scalar's own lines follow it.
func maxLine(n *yaml.Node) int {
	l := n.Line
	if n.Kind == yaml.ScalarNode && (n.Style&(yaml.LiteralStyle|yaml.FoldedStyle)) != 0 {
		l += strings.Count(strings.TrimRight(n.Value, "\n"), "\n") + 1
	}
	for _, c := range n.Content {
		l = max(l, maxLine(c))
	}
	return l
}

func lineOffsets(src []byte) []int {
	out := []int{0}
	for i, c := range src {
		if c == '\n' && i+1 < len(src) {
			out = append(out, i+1)
		}
	}
	return out
}

func lineStart(lines []int, line, size int) int {
	if line < 1 {
		return 0
	}
	if line > len(lines) {
		return size
	}
	return lines[line-1]
}

func lineText(src []byte, lines []int, line int) string {
	s := lineStart(lines, line, len(src))
	e := lineStart(lines, line+1, len(src))
	return strings.TrimRight(string(src[s:e]), "\r\n")
}

func blankOrComment(s string) bool {
	t := strings.TrimLeft(s, " \t")
	return t == "" || t[0] == '#'
}

func splice(src []byte, at int, text string) []byte {
	out := make([]byte, 0, len(src)+len(text))
	out = append(out, src[:at]...)
	out = append(out, text...)
	return append(out, src[at:]...)
}
