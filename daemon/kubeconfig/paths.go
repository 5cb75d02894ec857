package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultPaths are the kubeconfig files kubectl reads, in precedence order, as
// client-go's clientcmd computes them: $KUBECONFIG split by os.PathListSeparator with
// empty and repeated names dropped, or ~/.kube/config when $KUBECONFIG is empty.
// getenv is usually os.Getenv.
func DefaultPaths(getenv func(string) string) ([]string, error) {
	if v := getenv("KUBECONFIG"); v != "" {
		var out []string
		seen := map[string]bool{}
		for _, p := range filepath.SplitList(v) {
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			out = append(out, p)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: no $KUBECONFIG and no home folder: %w", err)
		}
		home = h
	}
	return []string{filepath.Join(home, ".kube", "config")}, nil
}

// resolve follows symlinks to the file that is really edited. A missing file (or a
// dangling link) gives "" and no error.
func resolve(path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return real, nil
}

// watchDirs are the folders to watch for the files, and the paths whose events matter:
// the files, their symlink targets, their lock files, and for a missing folder the
// nearest existing ancestor with the child on the way to the file.
func watchDirs(paths []string) (dirs map[string]bool, names map[string]bool) {
	dirs, names = map[string]bool{}, map[string]bool{}
	add := func(p string) {
		names[p] = true
		names[p+".lock"] = true
		dir := filepath.Dir(p)
		child := p
		for {
			if st, err := os.Stat(dir); err == nil && st.IsDir() {
				dirs[dir] = true
				names[child] = true
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			child, dir = dir, parent
		}
	}
	for _, p := range paths {
		add(p)
		if real, err := resolve(p); err == nil && real != "" && real != p {
			add(real)
		} else if target, err := os.Readlink(p); err == nil {
			// A dangling link: watch where its target will appear.
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(p), target)
			}
			add(target)
		}
	}
	return dirs, names
}
