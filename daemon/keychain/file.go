package keychain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/airlockhq/airlock/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// maxFile bounds the fallback file: a handful of small values.
const maxFile = 1 << 20

// fileVersion is the format of the fallback file.
const fileVersion = 1

// File keeps values in one JSON file, mode 0600, in a folder of mode 0700.
// Writes are atomic: a temporary file in the same folder, fsync, rename.
type File struct {
	path string
	mu   sync.Mutex
}

// NewFile returns the file store at path. Nothing is created until Set.
func NewFile(path string) *File { return &File{path: path} }

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// fileData is the file's content.
type fileData struct {
	Version int               `json:"version"`
	Values  map[string]string `json:"values"`
}

// Get implements Store.
func (f *File) Get(_ context.Context, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	vals, err := f.load()
	if err != nil {
		return "", err
	}
	v, ok := vals[key]
	if !ok {
		return "", fmt.Errorf("token file: %w", ErrNotFound)
	}
	return v, nil
}

// Set implements Store.
func (f *File) Set(_ context.Context, key, value string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	vals, err := f.load()
	if err != nil {
		return err
	}
	vals[key] = value
	return f.save(vals)
}

// Delete implements Store.
func (f *File) Delete(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	vals, err := f.load()
	if err != nil {
		return err
	}
	if _, ok := vals[key]; !ok {
		return nil
	}
	delete(vals, key)
	return f.save(vals)
}

func (f *File) load() (map[string]string, error) {
	fh, err := os.Open(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", f.path, err)
	}
	vals, err := parseFile(data)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", f.path, err)
	}
	return vals, nil
}

// parseFile decodes the fallback file strictly: unknown fields, trailing
// data, oversize files and values are errors.
func parseFile(data []byte) (map[string]string, error) {
	if len(data) > maxFile {
		return nil, fmt.Errorf("file is over %d bytes", maxFile)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]string{}, nil
	}
	var d fileData
	if err := decodeStrict(data, &d); err != nil {
		return nil, fmt.Errorf("not a token file: %w", err)
	}
	if d.Version != fileVersion {
		return nil, fmt.Errorf("token file version %d is not %d", d.Version, fileVersion)
	}
	if d.Values == nil {
		d.Values = map[string]string{}
	}
	for k, v := range d.Values {
		if err := checkKey(k); err != nil {
			return nil, err
		}
		if err := checkValue(v); err != nil {
			return nil, err
		}
	}
	return d.Values, nil
}

func (f *File) save(vals map[string]string) error {
	data, err := marshalFile(vals)
	if err != nil {
		return err
	}
	return writeAtomic(f.path, data)
}

func marshalFile(vals map[string]string) ([]byte, error) {
	// encoding/json sorts map keys: the file is deterministic.
	data, err := json.MarshalIndent(fileData{Version: fileVersion, Values: vals}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// writeAtomic writes data to path with mode 0600, creating its folder with
// mode 0700. A failure leaves the old file as it was.
func writeAtomic(path string, data []byte) error {
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// ensureDir makes dir (and its parents) and sets dir itself to 0700.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make %s private: %w", dir, err)
		}
	}
	return nil
}

// Empty reports whether the file holds no value (a missing file holds
// none).
func (f *File) Empty() (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vals, err := f.load()
	return len(vals) == 0, err
}

// Remove removes the file if it holds no value.
func (f *File) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	vals, err := f.load()
	if err != nil || len(vals) > 0 {
		return err
	}
	if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
