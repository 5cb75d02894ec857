package edge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/internal/credentials"
	"github.com/airlockhq/airlock/internal/wire"
	"gopkg.in/yaml.v3"
)

// TunnelOptions tune [CreateTunnel].
type TunnelOptions struct {
	// Hostnames the tunnel serves (at least one).
	Hostnames []string
	// Policy of the app entries created for hostnames that have none.
	// Empty: an app that allows nobody until its policy is edited.
	Policy Policy
	// CredentialsFile is where the connector credentials go (default
	// DIR/tunnels/NAME.json beside the config).
	CredentialsFile string
}

// CreatedTunnel is what [CreateTunnel] made.
type CreatedTunnel struct {
	Credentials     *credentials.Credentials
	CredentialsFile string
	// NewApps are the hostnames that got a new app entry.
	NewApps []string
}

// CreateTunnel adds a tunnel NAME serving opts.Hostnames to the config at
// configPath, with a random id and 32-byte secret of which the config keeps
// only the SHA-256, adds an app entry for each hostname that has none, and
// writes the connector credentials file (0600). The config is edited in
// place, keeping its comments, under a lock and atomically; on any error
// nothing is changed.
func CreateTunnel(configPath, name string, opts TunnelOptions) (*CreatedTunnel, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("create tunnel: name %w", err)
	}
	if len(opts.Hostnames) == 0 {
		return nil, fmt.Errorf("create tunnel %s: at least one --hostname is required", name)
	}
	hosts := make([]string, 0, len(opts.Hostnames))
	for _, h := range opts.Hostnames {
		if err := wire.CheckHostname(h); err != nil {
			return nil, fmt.Errorf("create tunnel %s: --hostname: %w", name, err)
		}
		h = strings.ToLower(h)
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	unlock, err := lockConfig(configPath)
	if err != nil {
		return nil, err
	}
	defer unlock()

	raw, err := os.ReadFile(configPath)
	if err != nil {
		return nil, fmt.Errorf("create tunnel %s: read edge config: %w", name, err)
	}
	cfg, err := ParseConfig(raw, filepath.Dir(configPath))
	if err != nil {
		return nil, fmt.Errorf("create tunnel %s: edge config %s: %w", name, configPath, err)
	}
	for _, t := range cfg.Tunnels {
		if t.Name == name {
			return nil, fmt.Errorf("create tunnel %s: a tunnel of that name exists (id %s)", name, t.ID)
		}
		for _, h := range t.Hostnames {
			if slices.Contains(hosts, strings.ToLower(h)) {
				return nil, fmt.Errorf("create tunnel %s: hostname %s is already served by tunnel %s", name, h, t.Name)
			}
		}
	}
	id, secret, err := newTunnelSecret()
	if err != nil {
		return nil, err
	}
	tun := Tunnel{Name: name, ID: id, SecretHash: HashSecret(secret), Hostnames: hosts}
	var newApps []App
	for _, h := range hosts {
		if !slices.ContainsFunc(cfg.Apps, func(a App) bool { return strings.EqualFold(a.Hostname, h) }) {
			newApps = append(newApps, App{Hostname: h, Tunnel: name, Policy: opts.Policy})
		}
	}

	edited, err := appendToConfig(raw, tun, newApps)
	if err != nil {
		return nil, fmt.Errorf("create tunnel %s: edit %s: %w", name, configPath, err)
	}
	if _, err := ParseConfig(edited, cfg.dir); err != nil {
		return nil, fmt.Errorf("create tunnel %s: the edited config would not validate: %w", name, err)
	}

	if cfg.TLS.CAFile == "" {
		return nil, fmt.Errorf("create tunnel %s: tls.ca_file is required: connector credentials carry the CA that signed the edge certificate", name)
	}
	ca, err := os.ReadFile(cfg.Path(cfg.TLS.CAFile))
	if err != nil {
		return nil, fmt.Errorf("create tunnel %s: tls.ca_file: %w", name, err)
	}
	c := &credentials.Credentials{
		TunnelID: id, TunnelName: name, Secret: secret,
		Edges: cfg.PublicAddrs, ServerName: cfg.TLS.ServerName, CAPEM: string(ca),
	}
	credsPath := opts.CredentialsFile
	if credsPath == "" {
		credsPath = filepath.Join(cfg.dir, TunnelsDir, name+".json")
	}
	if err := os.MkdirAll(filepath.Dir(credsPath), 0o700); err != nil {
		return nil, fmt.Errorf("create tunnel %s: %w", name, err)
	}
	if err := credentials.WriteCredentials(credsPath, c); err != nil {
		return nil, fmt.Errorf("create tunnel %s: %w", name, err)
	}
	if err := writeConfig(configPath, edited); err != nil {
		os.Remove(credsPath)
		return nil, fmt.Errorf("create tunnel %s: %w", name, err)
	}
	out := &CreatedTunnel{Credentials: c, CredentialsFile: credsPath}
	for _, a := range newApps {
		out.NewApps = append(out.NewApps, a.Hostname)
	}
	return out, nil
}

// appendToConfig appends a tunnel and apps to the YAML document in raw,
// keeping everything else (comments included) as it is.
func appendToConfig(raw []byte, tun Tunnel, apps []App) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the top level is not a mapping")
	}
	root := doc.Content[0]
	tn, err := encodeNode(tun)
	if err != nil {
		return nil, err
	}
	if err := appendItems(root, "tunnels", []*yaml.Node{tn}); err != nil {
		return nil, err
	}
	var items []*yaml.Node
	for _, a := range apps {
		n, err := encodeNode(a)
		if err != nil {
			return nil, err
		}
		if a.Policy.Allow.empty() {
			n.HeadComment = "allows nobody until policy.allow lists emails, email_domains or groups"
		}
		items = append(items, n)
	}
	if err := appendItems(root, "apps", items); err != nil {
		return nil, err
	}
	return encodeYAML(&doc)
}

func encodeNode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

// appendItems appends values to the sequence under key in mapping m,
// creating the key when it is missing.
func appendItems(m *yaml.Node, key string, values []*yaml.Node) error {
	if len(values) == 0 {
		return nil
	}
	var seq *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			seq = m.Content[i+1]
			break
		}
	}
	if seq == nil {
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, seq)
	}
	if seq.Kind == yaml.ScalarNode && seq.Tag == "!!null" {
		*seq = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", HeadComment: seq.HeadComment, LineComment: seq.LineComment}
	}
	if seq.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s is not a list", key)
	}
	seq.Style = 0 // block style, also for a former "[]"
	seq.Content = append(seq.Content, values...)
	return nil
}
