package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxConfigSize bounds what Parse reads: a configuration is a few KiB.
const maxConfigSize = 1 << 20

// Parse parses and validates a configuration. path names the file in
// errors and anchors relative paths; it may be empty.
func Parse(data []byte, path string) (*Config, error) {
	p := &problems{file: path}
	if len(data) > maxConfigSize {
		p.add(0, "", "file is %d bytes, limit %d", len(data), maxConfigSize)
		return nil, p.err()
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlErrorLine(err)
		p.add(line, "", "invalid YAML: %s", msg)
		return nil, p.err()
	}
	cfg := &Config{Path: path}
	if len(doc.Content) == 0 {
		p.add(0, "", "file is empty: it needs edges and clusters")
		return nil, p.err()
	}
	parseRoot(p, deref(doc.Content[0]), cfg)
	if err := p.err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlErrorLine(err error) (int, string) {
	if te, ok := err.(*yaml.TypeError); ok && len(te.Errors) > 0 {
		return yamlErrorLineText(te.Errors[0])
	}
	return yamlErrorLineText(err.Error())
}

func yamlErrorLineText(s string) (int, string) {
	if m := yamlLineRE.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, s
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// fields walks a mapping node, calling fn for each key with its value, and
// reports duplicate keys, unknown keys and non-mappings.
func fields(p *problems, n *yaml.Node, path string, known []string, fn func(key string, keyLine int, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.add(n.Line, path, "must be a mapping of field: value, not %s", kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		field := joinPath(path, k.Value)
		if prev, dup := seen[k.Value]; dup {
			p.add(k.Line, field, "is set twice (first on line %d)", prev)
			continue
		}
		seen[k.Value] = k.Line
		if !slices.Contains(known, k.Value) {
			p.add(k.Line, field, "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		}
		fn(k.Value, k.Line, v)
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

func str(p *problems, n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.add(n.Line, field, "must be a string, not %s", kindName(n))
		return ""
	}
	return n.Value
}

func boolean(p *problems, n *yaml.Node, field string) *bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		p.add(n.Line, field, "must be true or false, not %s", kindName(n))
		return nil
	}
	return &b
}

func strList(p *problems, n *yaml.Node, field string) []string {
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, field, "must be a list of strings, not %s", kindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		if s := str(p, deref(item), fmt.Sprintf("%s[%d]", field, i)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func items(p *problems, n *yaml.Node, field string) []*yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n.Line, field, "must be a list, not %s", kindName(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = deref(c)
	}
	return out
}

func parseRoot(p *problems, n *yaml.Node, cfg *Config) {
	fields(p, n, "", []string{"edges", "clusters", "browser", "sign_in"}, func(key string, _ int, v *yaml.Node) {
		switch key {
		case "browser", "sign_in":
			parseSignInRoot(p, key, v, cfg)
		case "edges":
			for i, item := range items(p, v, "edges") {
				cfg.Edges = append(cfg.Edges, parseEdge(p, item, fmt.Sprintf("edges[%d]", i)))
			}
		case "clusters":
			for i, item := range items(p, v, "clusters") {
				cfg.Clusters = append(cfg.Clusters, parseCluster(p, item, fmt.Sprintf("clusters[%d]", i)))
			}
		}
	})
}

func parseEdge(p *problems, n *yaml.Node, path string) Edge {
	e := Edge{Line: n.Line, lines: map[string]int{}}
	fields(p, n, path, []string{"name", "address", "addresses", "ca", "server_name", "auth_url", "catalogue", "kubeconfig_prefix", "transport", "quic_retry"}, func(key string, _ int, v *yaml.Node) {
		field := joinPath(path, key)
		e.lines[key] = v.Line
		switch key {
		case "name":
			e.Name = str(p, v, field)
		case "address":
			e.Address = str(p, v, field)
		case "addresses":
			e.Addresses = strList(p, v, field)
			e.fromList = true
		case "ca":
			e.CA = str(p, v, field)
		case "server_name":
			e.ServerName = str(p, v, field)
		case "auth_url":
			e.AuthURL = str(p, v, field)
		case "catalogue":
			if b := boolean(p, v, field); b != nil {
				e.Catalogue = *b
			}
		case "kubeconfig_prefix":
			e.KubeconfigPrefix = str(p, v, field)
		case "transport":
			e.Transport = str(p, v, field)
		case "quic_retry":
			e.QUICRetry, _ = duration(p, v, field)
		}
	})
	if e.lines["address"] > 0 && e.lines["addresses"] > 0 {
		p.add(e.lines["addresses"], joinPath(path, "addresses"), "is set beside address: give one address, or every one in addresses")
	}
	return e
}

func parseCluster(p *problems, n *yaml.Node, path string) Cluster {
	c := Cluster{Line: n.Line, lines: map[string]int{}}
	known := []string{"name", "app", "edge", "listen", "token", "token_file", "autoconnect", "kubeconfig"}
	fields(p, n, path, known, func(key string, _ int, v *yaml.Node) {
		field := joinPath(path, key)
		c.lines[key] = v.Line
		switch key {
		case "name":
			c.Name = str(p, v, field)
		case "app":
			c.App = str(p, v, field)
		case "edge":
			c.Edge = str(p, v, field)
		case "listen":
			c.Listen = str(p, v, field)
		case "token":
			c.Token = str(p, v, field)
		case "token_file":
			c.TokenFile = str(p, v, field)
		case "autoconnect":
			c.Autoconnect = boolean(p, v, field)
		case "kubeconfig":
			c.Kubeconfig.Line = v.Line
			fields(p, v, field, []string{"clusters", "servers"}, func(key string, _ int, v *yaml.Node) {
				switch key {
				case "clusters":
					c.lines["kubeconfig."+key] = v.Line
					c.Kubeconfig.Clusters = strList(p, v, joinPath(field, key))
				case "servers":
					c.lines["kubeconfig."+key] = v.Line
					c.Kubeconfig.Servers = strList(p, v, joinPath(field, key))
				}
			})
		}
	})
	return c
}
