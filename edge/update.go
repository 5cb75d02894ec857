package edge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlockhq/airlock/internal/atomicfile"
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
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read edge config: %w", err)
	}
	dir := filepath.Dir(path)
	if _, err := ParseConfig(raw, dir); err != nil {
		return nil, fmt.Errorf("edge config %s: %w", path, err)
	}
	// Edit the file's own values, not the defaulted ones.
	var plain Config
	if err := yaml.Unmarshal(raw, &plain); err != nil {
		return nil, err
	}
	plain.dir = dir
	if err := edit(&plain); err != nil {
		return nil, err
	}
	out, err := encodeYAML(&plain)
	if err != nil {
		return nil, err
	}
	next, err := ParseConfig(out, dir)
	if err != nil {
		return nil, fmt.Errorf("edited config %s: %w", path, err)
	}
	if err := writeConfig(path, out); err != nil {
		return nil, err
	}
	return next, nil
}

// encodeYAML encodes v (a struct or a document node) the way config files
// are written: two-space indents.
func encodeYAML(v any) ([]byte, error) {
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// writeConfig replaces the config at path with b atomically, keeping the
// owner's permissions (0600 for a new file) but none for group and others:
// the file holds bcrypt hashes of users' passwords and may hold an upstream
// client_secret, so a 0644 config becomes 0600 on the first write.
func writeConfig(path string, b []byte) error {
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm() &^ 0o077
	}
	return atomicfile.Write(path, b, mode)
}
