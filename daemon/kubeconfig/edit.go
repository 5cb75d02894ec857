package kubeconfig

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// splice is one replacement of src[start:end].
type splice struct {
	start, end int
	text       string
}

func applySplices(src []byte, edits []splice) ([]byte, error) {
	slices.SortStableFunc(edits, func(a, b splice) int { return a.start - b.start })
	var out bytes.Buffer
	at := 0
	for _, e := range edits {
		if e.start < at || e.end < e.start || e.end > len(src) {
			return nil, causef(ErrUnsupported, "overlapping edits")
		}
		out.Write(src[at:e.start])
		out.WriteString(e.text)
		at = e.end
	}
	out.Write(src[at:])
	return out.Bytes(), nil
}

// plainSafe are strings written without quotes: they read as the same string in
// YAML 1.1 (kubectl's parser) and 1.2 (yaml.v3).
var (
	plainSafe   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._~:/?@%+=,;!$&*()\[\]-]*$`)
	yaml11Words = map[string]bool{"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true, "true": true, "false": true, "null": true}
)

// scalar renders a string as a one-line YAML scalar.
func scalar(s string) string {
	if plainSafe.MatchString(s) && !yaml11Words[strings.ToLower(s)] && !strings.Contains(s, ": ") {
		return s
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	}
	return strconv.Quote(s) // Go's escapes are a subset of YAML's double-quoted ones
}

func strNode(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }

// recordLines renders Airlock's extensions item; prefix is the text before "- ".
func recordLines(rec record, prefix, eol string) string {
	var b strings.Builder
	line := func(indent, s string) { b.WriteString(prefix + indent + s + eol) }
	line("", "- name: "+extensionName)
	line("  ", "extension:")
	line("    ", "cluster: "+scalar(rec.Cluster))
	line("    ", "applied: "+scalar(rec.Applied))
	if rec.Previous != nil {
		line("    ", "previous-proxy-url: "+scalar(*rec.Previous))
	}
	if rec.PreviousSource != "" {
		line("    ", "previous-proxy-url-source: "+scalar(rec.PreviousSource))
	}
	return b.String()
}

func recordNode(rec record) *yaml.Node {
	ext := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	add := func(m *yaml.Node, k, v string) { m.Content = append(m.Content, strNode(k), strNode(v)) }
	add(ext, "cluster", rec.Cluster)
	add(ext, "applied", rec.Applied)
	if rec.Previous != nil {
		add(ext, "previous-proxy-url", *rec.Previous)
	}
	if rec.PreviousSource != "" {
		add(ext, "previous-proxy-url-source", rec.PreviousSource)
	}
	item := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	add(item, "name", extensionName)
	item.Content = append(item.Content, strNode("extension"), ext)
	return item
}

// put points entry e (which must carry no record) at proxyURL for Airlock cluster name
// and records what it changed. It returns the new file.
func (d *document) put(e *entry, name, proxyURL string) ([]byte, error) {
	if e.problem != nil {
		return nil, e.problem
	}
	if e.rec != nil {
		return nil, causef(ErrUnsupported, "already carries an airlock record")
	}
	first := e.cluster.Content[0]
	indent, err := d.indent(first)
	if err != nil {
		return nil, err
	}
	eol := d.eol(first.Line)
	// New lines go right under "cluster:", above any comment that heads the first key.
	at := d.lineStart(min(e.clusterK.Line+1, first.Line))
	want, wantCluster := d.cloneEntry(e)
	rec := record{Cluster: name, Applied: fingerprint(proxyURL)}
	var edits []splice
	var insert string
	var head []*yaml.Node // nodes inserted before the first key
	if e.proxyVal != nil {
		s, t, err := d.scalarToken(e.proxyVal)
		if err != nil {
			return nil, err
		}
		prev := e.proxyVal.Value
		rec.Previous = &prev
		if raw := string(d.src[s:t]); raw != scalar(prev) {
			rec.PreviousSource = raw
		}
		edits = append(edits, splice{s, t, scalar(proxyURL)})
		_, v := mapGet(wantCluster, "proxy-url")
		*v = *strNode(proxyURL)
	} else {
		insert += indent + "proxy-url: " + scalar(proxyURL) + eol
		head = append(head, strNode("proxy-url"), strNode(proxyURL))
	}
	if e.extVal == nil {
		insert += indent + "extensions:" + eol + recordLines(rec, indent, eol)
		head = append(head, strNode("extensions"), &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{recordNode(rec)}})
	} else {
		dash, err := d.indent(e.extVal)
		if err != nil {
			return nil, err
		}
		ls := d.lineStart(e.extVal.Line)
		edits = append(edits, splice{ls, ls, recordLines(rec, dash, d.eol(e.extVal.Line))})
		_, v := mapGet(wantCluster, "extensions")
		v.Content = append([]*yaml.Node{recordNode(rec)}, v.Content...)
	}
	if insert != "" {
		edits = append(edits, splice{at, at, insert})
	}
	wantCluster.Content = append(head, wantCluster.Content...)
	out, err := applySplices(d.src, edits)
	if err != nil {
		return nil, err
	}
	if err := d.verify(out, e.index, want); err != nil {
		return nil, err
	}
	// Never write what cannot be undone exactly.
	nd, err := parseDocument(out)
	if err != nil {
		return nil, causef(ErrVerify, "%v", err)
	}
	if back, err := nd.strip(nd.clusters[e.index]); err != nil || !bytes.Equal(back, d.src) {
		return nil, causef(ErrVerify, "the change could not be undone byte for byte")
	}
	return out, nil
}

// strip removes Airlock's record from entry e and, while the proxy-url is still the one
// Airlock wrote, puts back what was there before. It returns the new file.
func (d *document) strip(e *entry) ([]byte, error) {
	if e.problem != nil {
		return nil, e.problem
	}
	if e.rec == nil {
		return nil, causef(ErrUnsupported, "carries no airlock record")
	}
	want, wantCluster := d.cloneEntry(e)
	var edits []splice
	rec := e.rec
	if e.proxyVal != nil && rec.Applied != "" && fingerprint(e.proxyVal.Value) == rec.Applied {
		if rec.Previous != nil {
			s, t, err := d.scalarToken(e.proxyVal)
			if err != nil {
				return nil, err
			}
			text := scalar(*rec.Previous)
			if src := rec.PreviousSource; src != "" && !strings.ContainsAny(src, "\r\n") {
				var v string
				if yaml.Unmarshal([]byte(src), &v) == nil && v == *rec.Previous {
					text = src
				}
			}
			edits = append(edits, splice{s, t, text})
			_, v := mapGet(wantCluster, "proxy-url")
			*v = *strNode(*rec.Previous)
		} else {
			s, t, err := d.region(e.proxyKey, e.proxyVal, false)
			if err != nil {
				return nil, err
			}
			edits = append(edits, splice{s, t, ""})
			removeKey(wantCluster, "proxy-url")
		}
	}
	if len(e.extVal.Content) == 1 {
		s, t, err := d.region(e.extKey, e.extVal, false)
		if err != nil {
			return nil, err
		}
		edits = append(edits, splice{s, t, ""})
		removeKey(wantCluster, "extensions")
	} else {
		s, t, err := d.region(e.recItem, e.recItem, true)
		if err != nil {
			return nil, err
		}
		edits = append(edits, splice{s, t, ""})
		_, v := mapGet(wantCluster, "extensions")
		i := slices.Index(e.extVal.Content, e.recItem)
		v.Content = slices.Delete(v.Content, i, i+1)
	}
	out, err := applySplices(d.src, edits)
	if err != nil {
		return nil, err
	}
	if err := d.verify(out, e.index, want); err != nil {
		return nil, err
	}
	return out, nil
}

func removeKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = slices.Delete(m.Content, i, i+2)
			return
		}
	}
}

// cloneEntry copies the whole tree for the expected result and returns the copy's
// entry item and its cluster mapping.
func (d *document) cloneEntry(e *entry) (*yaml.Node, *yaml.Node) {
	root := cloneNode(d.node)
	_, list := mapGet(root.Content[0], "clusters")
	item := list.Content[e.index]
	_, c := mapGet(item, "cluster")
	return root, c
}

func cloneNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = cloneNode(x)
	}
	return &c
}

// verify parses out and checks that it means exactly want: same kinds, tags, values
// and anchors everywhere, whatever the styles, positions and comments.
func (d *document) verify(out []byte, index int, want *yaml.Node) error {
	nd, err := parseDocument(out)
	if err != nil {
		return causef(ErrVerify, "result does not parse: %v", err)
	}
	if nd.node == nil || !sameTree(nd.node, want) {
		return causef(ErrVerify, "result differs from the intended change")
	}
	if index >= len(nd.clusters) || nd.clusters[index].problem != nil && d.clusters[index].problem == nil {
		return causef(ErrVerify, "entry became uneditable")
	}
	return nil
}

func sameTree(a, b *yaml.Node) bool {
	if a.Kind != b.Kind || a.ShortTag() != b.ShortTag() || a.Anchor != b.Anchor || len(a.Content) != len(b.Content) {
		return false
	}
	if (a.Kind == yaml.ScalarNode || a.Kind == yaml.AliasNode) && a.Value != b.Value {
		return false
	}
	for i := range a.Content {
		if !sameTree(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}
