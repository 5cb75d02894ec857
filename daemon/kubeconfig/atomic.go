package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tempPattern names Airlock's temporary files: ".config.airlock-123.tmp".
func tempPattern(real string) string { return "." + filepath.Base(real) + ".airlock-*.tmp" }

// isTempName says whether a base name is one of Airlock's temporary files.
func isTempName(base string) bool {
	return strings.HasPrefix(base, ".") && strings.Contains(base, ".airlock-") && strings.HasSuffix(base, ".tmp")
}

// checkWritable refuses files Airlock must not replace: read-only ones (no write bit,
// or not writable by this process) and ones with several hard links.
func checkWritable(real string, info fs.FileInfo) error {
	if info.Mode().Perm()&0o222 == 0 || !canWrite(real) {
		return causef(ErrNotWritable, "the file is read-only (mode %04o)", info.Mode().Perm())
	}
	if n := linkCount(info); n > 1 {
		return causef(ErrUnsupported, "the file has %d hard links; replacing it would split them", n)
	}
	return nil
}

// stageAtomic writes the new content of real to a temporary file in the same folder
// (created 0600), given the permissions perm and the old file's owner, and syncs it; it
// returns the temporary file's name. Renaming it over real ([commitAtomic]) is then the
// only step left, the one a caller does under kubectl's lock: a crash at any point
// leaves either the old file or the new one, and the new bytes are never more readable
// than perm.
func stageAtomic(real string, data []byte, info fs.FileInfo, perm fs.FileMode) (tmp string, err error) {
	f, err := os.CreateTemp(filepath.Dir(real), tempPattern(real))
	if err != nil {
		return "", fmt.Errorf("%w: cannot create a temporary file: %v", ErrNotWritable, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return "", err
	}
	if err := keepOwner(f, info); err != nil {
		return "", fmt.Errorf("%w: cannot keep the file's owner: %v", ErrNotWritable, err)
	}
	if _, err := f.Write(data); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// commitAtomic renames a staged temporary file over real; on failure it removes it.
// The folder still needs a syncDir for the rename to survive a power cut; that can
// wait until the lock is released.
func commitAtomic(tmp, real string) error {
	if err := os.Rename(tmp, real); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// removeTemps removes Airlock's temporary files left by a crash next to file (as
// listed or resolved): those of the file and those of its lock.
func removeTemps(file string) error {
	var matches []string
	for _, pattern := range []string{tempPattern(file), tempPattern(file + ".lock")} {
		m, err := filepath.Glob(filepath.Join(filepath.Dir(file), pattern))
		if err != nil {
			return err
		}
		matches = append(matches, m...)
	}
	var errs []error
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
