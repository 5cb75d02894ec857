package edgeserver

import (
	"bytes"
	"fmt"
	"os"

	"github.com/airlockhq/airlock/edge/atomicfile"

	"gopkg.in/yaml.v3"
)

// UpdateConfig loads the config at path, applies edit, validates the result
// and writes it back atomically under the config lock. The file is
// re-encoded from the struct, so comments are lost: tools that only append
// use [CreateTunnel], which keeps them.
func UpdateConfig(path string, edit func(*Config) error) (*Config, error) {
	unlock, err := lockConfig(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Edit the file's own values, not the defaulted ones.
	var plain Config
	if err := yaml.Unmarshal(raw, &plain); err != nil {
		return nil, err
	}
	plain.dir = cfg.dir
	if err := edit(&plain); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&plain); err != nil {
		return nil, err
	}
	enc.Close()
	next, err := ParseConfig(out.Bytes(), cfg.dir)
	if err != nil {
		return nil, fmt.Errorf("edited config %s: %w", path, err)
	}
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	if err := atomicfile.Write(path, out.Bytes(), mode); err != nil {
		return nil, err
	}
	return next, nil
}
