// Package atomicfile writes files so that a reader, or a crash, sees either
// the old file whole or the new one whole: a temporary file in the same
// folder, written, chmod-ed, fsync-ed, renamed over the target, and the
// folder fsync-ed. Every program of Airlock writes its state and secrets
// through it (kubeconfig edits, which must also keep the owner and hold
// kubectl's lock, have their own writer in daemon/kubeconfig).
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data and mode. On failure the old file is left as
// it was and no temporary file stays behind.
func Write(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable once the folder is: best effort, as some file
	// systems refuse to sync a folder.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
