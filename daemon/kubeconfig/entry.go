package kubeconfig

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"gopkg.in/yaml.v3"
)

// extensionName names Airlock's item in a cluster entry's extensions list.
const extensionName = "airlock"

// entry is one item of the top-level clusters list.
type entry struct {
	index    int        // position in the clusters list
	name     string     // its name
	item     *yaml.Node // the list item (a mapping)
	clusterK *yaml.Node // its "cluster" key and value, nil when absent
	cluster  *yaml.Node
	server   string
	proxyKey *yaml.Node // "proxy-url" key and value, nil when absent
	proxyVal *yaml.Node
	extKey   *yaml.Node // "extensions" key and value, nil when absent
	extVal   *yaml.Node
	rec      *record    // Airlock's record, nil when absent
	recItem  *yaml.Node // the extensions item holding rec
	problem  error      // why this entry cannot be edited; nil when it can
}

// record is what Airlock keeps in its extensions item.
type record struct {
	Cluster        string  `yaml:"cluster"`
	Applied        string  `yaml:"applied"`
	Previous       *string `yaml:"previous-proxy-url,omitempty"`
	PreviousSource string  `yaml:"previous-proxy-url-source,omitempty"`
}

// fingerprint identifies a proxy-url Airlock wrote without storing it twice.
func fingerprint(proxyURL string) string {
	sum := sha256.Sum256([]byte("airlock proxy-url\x00" + proxyURL))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// mapGet returns the key and value nodes of key in a mapping.
func mapGet(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return k, m.Content[i+1]
		}
	}
	return nil, nil
}

func (d *document) findClusters() error {
	_, list := mapGet(d.top, "clusters")
	if list == nil || list.Kind == yaml.ScalarNode && list.ShortTag() == "!!null" {
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		return causef(ErrParse, "line %d: clusters is not a list", list.Line)
	}
	seen := map[string]*entry{}
	for i, item := range list.Content {
		if item.Kind != yaml.MappingNode {
			return causef(ErrParse, "line %d: clusters[%d] is not a mapping", item.Line, i)
		}
		e := &entry{index: i, item: item}
		if _, n := mapGet(item, "name"); n != nil {
			if n.Kind != yaml.ScalarNode {
				return causef(ErrParse, "line %d: clusters[%d].name is not a string", n.Line, i)
			}
			e.name = n.Value
		}
		e.clusterK, e.cluster = mapGet(item, "cluster")
		if e.cluster != nil && e.cluster.Kind == yaml.MappingNode {
			if _, s := mapGet(e.cluster, "server"); s != nil && s.Kind == yaml.ScalarNode {
				e.server = s.Value
			}
		}
		e.problem = e.inspect()
		if first, dup := seen[e.name]; dup {
			e.problem = causef(ErrUnsupported, "defined twice in the same file (lines %d and %d)", first.item.Line, item.Line)
			first.problem = e.problem
		} else {
			seen[e.name] = e
		}
		d.clusters = append(d.clusters, e)
	}
	return nil
}

// inspect fills the entry's proxy-url, extensions and record, and says why the entry
// cannot be edited.
func (e *entry) inspect() error {
	c := e.cluster
	if c == nil || c.Kind != yaml.MappingNode {
		return causef(ErrUnsupported, "line %d: no cluster mapping", e.item.Line)
	}
	if e.item.Style&yaml.FlowStyle != 0 || c.Style&yaml.FlowStyle != 0 {
		return causef(ErrUnsupported, "line %d: written in flow style (JSON)", c.Line)
	}
	if len(c.Content) == 0 {
		return causef(ErrUnsupported, "line %d: empty cluster mapping", c.Line)
	}
	if err := plainTree(e.item); err != nil {
		return err
	}
	for i := 0; i < len(c.Content); i += 2 {
		if c.Content[i].Value == "<<" {
			return causef(ErrUnsupported, "line %d: uses a YAML merge key", c.Content[i].Line)
		}
	}
	e.proxyKey, e.proxyVal = mapGet(c, "proxy-url")
	if v := e.proxyVal; v != nil && (v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" || v.Value == "") {
		return causef(ErrUnsupported, "line %d: proxy-url is not a string", v.Line)
	}
	e.extKey, e.extVal = mapGet(c, "extensions")
	if v := e.extVal; v != nil {
		if v.Kind != yaml.SequenceNode || v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0 {
			return causef(ErrUnsupported, "line %d: extensions is not a block list", v.Line)
		}
		for _, it := range v.Content {
			if _, n := mapGet(it, "name"); n == nil || n.Value != extensionName {
				continue
			}
			if it.Style&yaml.FlowStyle != 0 {
				return causef(ErrUnsupported, "line %d: airlock extension in flow style", it.Line)
			}
			rec := &record{}
			if _, x := mapGet(it, "extension"); x != nil {
				// A record someone mangled still marks the item as Airlock's; an empty
				// record never matches a proxy-url, so only the item is removed.
				if err := x.Decode(rec); err != nil {
					rec = &record{}
				}
			}
			e.rec, e.recItem = rec, it
			break
		}
	}
	return nil
}

// plainTree refuses anchors and aliases: an edit through them would change other places.
func plainTree(n *yaml.Node) error {
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		return causef(ErrUnsupported, "line %d: uses YAML anchors or aliases", n.Line)
	}
	for _, c := range n.Content {
		if err := plainTree(c); err != nil {
			return err
		}
	}
	return nil
}

func (e *entry) String() string { return fmt.Sprintf("clusters[%d] %q", e.index, e.name) }
