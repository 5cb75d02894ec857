package dist

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SumsFile is the checksum list Build writes into Out, in the format
// `sha256sum -c` reads.
const SumsFile = "SHA256SUMS"

// writeSums writes SHA256SUMS for paths (relative to out, forward
// slashes) and returns its name.
func writeSums(out string, paths []string) (string, error) {
	paths = slices.Sorted(slices.Values(paths))
	var b strings.Builder
	for _, p := range paths {
		sum, err := sha256File(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil {
			return "", fmt.Errorf("dist: checksum: %w", err)
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, p)
	}
	if err := os.WriteFile(filepath.Join(out, SumsFile), []byte(b.String()), 0o644); err != nil {
		return "", fmt.Errorf("dist: %w", err)
	}
	return SumsFile, nil
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
