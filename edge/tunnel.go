package edge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/airlockhq/airlock/internal/atomicfile"
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

	c, credsPath, undo, err := writeTunnelCredentials(cfg, name, id, secret, opts.CredentialsFile)
	if err != nil {
		return nil, fmt.Errorf("create tunnel %s: %w", name, err)
	}
	if err := writeConfig(configPath, edited); err != nil {
		undo()
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

// writeTunnelCredentials writes the connector credentials of tunnel name
// (id, secret) under cfg to path (default DIR/tunnels/NAME.json), 0600 and
// atomically, and returns them, where they went, and undo, which puts back
// what the file held before (or removes it).
func writeTunnelCredentials(cfg *Config, name, id, secret, path string) (_ *credentials.Credentials, _ string, undo func(), _ error) {
	if cfg.TLS.CAFile == "" {
		return nil, "", nil, errors.New("tls.ca_file is required: connector credentials carry the CA that signed the edge certificate")
	}
	ca, err := os.ReadFile(cfg.Path(cfg.TLS.CAFile))
	if err != nil {
		return nil, "", nil, fmt.Errorf("tls.ca_file: %w", err)
	}
	c := &credentials.Credentials{
		TunnelID: id, TunnelName: name, Secret: secret,
		Edges: cfg.PublicAddrs, ServerName: cfg.TLS.ServerName, CAPEM: string(ca),
	}
	if path == "" {
		path = filepath.Join(cfg.dir, TunnelsDir, name+".json")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, "", nil, err
	}
	before, readErr := os.ReadFile(path)
	if err := credentials.WriteCredentials(path, c); err != nil {
		return nil, "", nil, err
	}
	undo = func() {
		if readErr != nil {
			os.Remove(path)
			return
		}
		atomicfile.Write(path, before, 0o600) //nolint:errcheck // best effort: the caller reports its own error
	}
	return c, path, undo, nil
}

// RotateOptions tune [RotateTunnel].
type RotateOptions struct {
	// CredentialsFile is where the new connector credentials go (default
	// DIR/tunnels/NAME.json beside the config, as tunnel create writes).
	CredentialsFile string
}

// RotatedTunnel is what [RotateTunnel] made.
type RotatedTunnel struct {
	Credentials     *credentials.Credentials
	CredentialsFile string
}

// RotateTunnel replaces the secret of tunnel NAME in the config at
// configPath with a new random one (the tunnel keeps its id, hostnames and
// apps) and writes the new connector credentials file, 0600. The config is
// edited in place, comments kept, under the config lock; on any error
// neither file changes. A running edge, once it reloads the config (it
// follows the file), refuses the old secret and closes every connection
// that authenticated with it.
func RotateTunnel(configPath, name string, opts RotateOptions) (*RotatedTunnel, error) {
	_, secret, err := newTunnelSecret()
	if err != nil {
		return nil, err
	}
	var (
		out  RotatedTunnel
		undo = func() {}
	)
	err = editConfigDoc(configPath, func(root *yaml.Node) error {
		cfg, err := LoadConfig(configPath)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(cfg.Tunnels, func(t Tunnel) bool { return t.Name == name })
		if i < 0 {
			var have []string
			for _, t := range cfg.Tunnels {
				have = append(have, t.Name)
			}
			return fmt.Errorf("no tunnel %q in the edge config (tunnels: %s)", name, strings.Join(have, ", "))
		}
		tunnels := mappingValue(root, "tunnels")
		if tunnels == nil || tunnels.Kind != yaml.SequenceNode {
			return errors.New("the config has no tunnels list")
		}
		var hash *yaml.Node
		for _, item := range tunnels.Content {
			if scalarValue(item, "name") == name {
				hash = mappingValue(item, "secret_hash")
			}
		}
		if hash == nil || hash.Kind != yaml.ScalarNode {
			return fmt.Errorf("tunnel %s has no secret_hash to replace", name)
		}
		hash.Value, hash.Style = HashSecret(secret), 0
		c, path, u, err := writeTunnelCredentials(cfg, name, cfg.Tunnels[i].ID, secret, opts.CredentialsFile)
		if err != nil {
			return err
		}
		out.Credentials, out.CredentialsFile, undo = c, path, u
		return nil
	})
	if err != nil {
		undo()
		return nil, fmt.Errorf("rotate tunnel %s: %w", name, err)
	}
	return &out, nil
}
