package edge

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// AppSettings are the fields of an app [SetApp] changes: each non-nil
// one is set, to nothing (the key removed) when it points to "".
type AppSettings struct {
	Name, DisplayName *string
	// The app's kubernetes: section (what people who join get in their
	// kubeconfig).
	KubeServer, KubeCAFile, KubeTLSServerName *string
}

// SetApp changes the fields of app (a hostname, any case) in the config
// at configPath that s names, in place, keeping the file's comments,
// under the config lock; the result must validate (a CA file must be
// readable PEM), else nothing changes.
func SetApp(configPath, app string, s AppSettings) error {
	err := editConfigDoc(configPath, func(root *yaml.Node) error {
		apps := mappingValue(root, "apps")
		var item *yaml.Node
		if apps != nil && apps.Kind == yaml.SequenceNode {
			for _, it := range apps.Content {
				if strings.EqualFold(scalarValue(it, "hostname"), app) {
					item = it
				}
			}
		}
		if item == nil {
			return fmt.Errorf("no app %s in the edge config (airlock-edge tunnel create adds apps)", app)
		}
		setScalar(item, "name", s.Name)
		setScalar(item, "display_name", s.DisplayName)
		if s.KubeServer == nil && s.KubeCAFile == nil && s.KubeTLSServerName == nil {
			return nil
		}
		kube := mappingValue(item, "kubernetes")
		if kube == nil || kube.Kind != yaml.MappingNode {
			if kube != nil && !(kube.Kind == yaml.ScalarNode && kube.Tag == "!!null") {
				return fmt.Errorf("app %s: kubernetes is not a mapping", app)
			}
			kube = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			setNode(item, "kubernetes", kube)
		}
		setScalar(kube, "server", s.KubeServer)
		setScalar(kube, "ca_file", s.KubeCAFile)
		if s.KubeCAFile != nil && *s.KubeCAFile != "" {
			setScalar(kube, "ca_data", new(string)) // one or the other
		}
		setScalar(kube, "tls_server_name", s.KubeTLSServerName)
		if len(kube.Content) == 0 {
			setNode(item, "kubernetes", nil)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set app %s: %w", app, err)
	}
	return nil
}

// setScalar sets key of mapping m to *v, removes it when *v is "", and
// leaves it alone when v is nil.
func setScalar(m *yaml.Node, key string, v *string) {
	if v == nil {
		return
	}
	if *v == "" {
		setNode(m, key, nil)
		return
	}
	setNode(m, key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: *v})
}

// setNode sets key of mapping m to n (nil: removes the key).
func setNode(m *yaml.Node, key string, n *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if n == nil {
				m.Content = append(m.Content[:i], m.Content[i+2:]...)
			} else {
				n.HeadComment, n.LineComment = m.Content[i+1].HeadComment, m.Content[i+1].LineComment
				m.Content[i+1] = n
			}
			return
		}
	}
	if n != nil {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, n)
	}
}
