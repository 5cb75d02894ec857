package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
)

// fileView is one kubeconfig file as read for one sync cycle.
type fileView struct {
	path string      // as listed
	real string      // symlinks resolved; "" when the file does not exist
	info fs.FileInfo // of real
	src  []byte
	doc  *document
	err  error // a *FileError when the file cannot be read or does not parse
	dup  bool  // the same file as an earlier one, through a symlink: kubectl's first load wins
}

func loadFile(path string) *fileView {
	f := &fileView{path: path}
	real, err := resolve(path)
	if err != nil {
		f.err = &FileError{Path: path, Err: err}
		return f
	}
	if real == "" {
		return f
	}
	info, err := os.Stat(real)
	if err == nil && info.IsDir() {
		err = causef(ErrParse, "%s is a folder", real)
	}
	var src []byte
	if err == nil {
		src, err = os.ReadFile(real)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return f
	}
	if err != nil {
		f.err = &FileError{Path: path, Err: err}
		return f
	}
	f.real, f.info, f.src = real, info, src
	if f.doc, err = parseDocument(src); err != nil {
		f.err = &FileError{Path: path, Err: err}
	}
	return f
}

// want is a connected Airlock cluster.
type want struct {
	target   Target
	proxyURL string
}

// job is what one sync cycle is to bring about.
type job struct {
	wants   map[string]want // connected clusters: their entries carry their proxy-url
	release map[string]bool // disconnected clusters: their records are to be removed
	all     bool            // remove every Airlock record (Cleanup)
}

func (j job) manages(name string) bool {
	_, ok := j.wants[name]
	return ok || j.release[name] || j.all
}

// change is a new content for one file and what it brings about once written.
type change struct {
	file    *fileView
	out     []byte
	mode    fs.FileMode        // the file's permissions once written
	names   []string           // Airlock clusters whose entries it changes
	applied map[string][]Entry // entries that carry their cluster's proxy-url once written
}

// outcome is a cycle's plan and, once executed, its result.
type outcome struct {
	changes []*change
	applied map[string][]Entry
	missing map[string][]string
	errs    map[string][]error
	other   []error // errors tied to no Airlock cluster (Cleanup)
}

func (o *outcome) fail(names []string, err error) {
	if len(names) == 0 {
		o.other = append(o.other, err)
	}
	for _, n := range names {
		if !slices.ContainsFunc(o.errs[n], func(e error) bool { return e == err }) {
			o.errs[n] = append(o.errs[n], err)
		}
	}
}

// plan decides, from the files as read, which entries belong to which Airlock cluster
// and computes the new content of every file that needs a change.
func plan(files []*fileView, j job) *outcome {
	o := &outcome{applied: map[string][]Entry{}, missing: map[string][]string{}, errs: map[string][]error{}}
	type owned struct {
		f *fileView
		e *entry
	}
	var broken []error
	owners := map[string]owned{}
	var order []owned // owners in precedence order
	for _, f := range files {
		if f.dup {
			continue
		}
		if f.err != nil {
			broken = append(broken, f.err)
			continue
		}
		if f.doc == nil {
			continue
		}
		for _, e := range f.doc.clusters {
			if _, seen := owners[e.name]; seen || len(broken) > 0 {
				// Shadowed by an earlier file, or possibly by a file that does not parse.
				continue
			}
			owners[e.name] = owned{f, e}
			order = append(order, owned{f, e})
		}
	}
	var names []string
	for n := range j.wants {
		names = append(names, n)
	}
	slices.Sort(names)
	for n := range j.release {
		names = append(names, n)
	}
	// A file that does not parse may hold any entry or record: it concerns every
	// cluster (kubectl itself refuses to run then).
	for _, err := range broken {
		o.fail(names, err)
	}

	assign := map[*entry]string{}
	for _, n := range names {
		w, ok := j.wants[n]
		if !ok {
			continue
		}
		take := func(x owned) {
			if a, ok := assign[x.e]; ok && a != n {
				o.fail([]string{n}, &FileError{Path: x.f.path, Entry: x.e.name, Err: causef(ErrConflict, "already mapped to %q", a)})
				return
			}
			assign[x.e] = n
		}
		for _, c := range w.target.Clusters {
			if x, ok := owners[c]; ok {
				take(x)
			} else {
				o.missing[n] = append(o.missing[n], c)
			}
		}
		for _, srv := range w.target.Servers {
			found := false
			for _, x := range order {
				if x.e.server == srv {
					take(x)
					found = true
				}
			}
			if !found {
				o.missing[n] = append(o.missing[n], srv)
			}
		}
	}

	for _, f := range files {
		if f.dup || f.err != nil || f.doc == nil {
			continue
		}
		c := &change{file: f, out: f.src, mode: f.info.Mode().Perm(), applied: map[string][]Entry{}}
		// secret lists the Airlock clusters whose password the file carries
		// once written: then it must not be readable by anyone else.
		var secret []string
		for _, e := range f.doc.clusters {
			n, assigned := assign[e]
			var w want
			if assigned {
				w = j.wants[n]
				if e.rec != nil && e.rec.Cluster == n && e.rec.Applied == fingerprint(w.proxyURL) &&
					e.proxyVal != nil && e.proxyVal.Value == w.proxyURL {
					o.applied[n] = append(o.applied[n], Entry{File: f.path, Cluster: e.name})
					if hasPassword(w.proxyURL) && !slices.Contains(secret, n) {
						secret = append(secret, n)
					}
					continue
				}
			} else if e.rec == nil || !j.manages(e.rec.Cluster) {
				continue
			}
			involved := []string{}
			if assigned {
				involved = append(involved, n)
			}
			if e.rec != nil && j.manages(e.rec.Cluster) && e.rec.Cluster != n {
				involved = append(involved, e.rec.Cluster)
			}
			out, err := editEntry(c.out, e, assigned, n, w.proxyURL)
			if err != nil {
				o.fail(involved, &FileError{Path: f.path, Entry: e.name, Err: err})
				continue
			}
			c.out = out
			for _, x := range involved {
				if !slices.Contains(c.names, x) {
					c.names = append(c.names, x)
				}
			}
			if assigned {
				c.applied[n] = append(c.applied[n], Entry{File: f.path, Cluster: e.name})
				if hasPassword(w.proxyURL) && !slices.Contains(secret, n) {
					secret = append(secret, n)
				}
			}
		}
		if len(secret) > 0 && c.mode != private(c.mode) {
			// Readable by group or others, and about to carry (or carrying)
			// a password: the write makes it private, even when the bytes
			// stay the same.
			c.mode = private(c.mode)
			for _, n := range secret {
				if !slices.Contains(c.names, n) {
					c.names = append(c.names, n)
				}
			}
		}
		if string(c.out) != string(f.src) || c.mode != f.info.Mode().Perm() {
			o.changes = append(o.changes, c)
		}
	}
	return o
}

// private is perm without any access for group and others: 0644 becomes
// 0600.
func private(perm fs.FileMode) fs.FileMode { return perm &^ 0o077 }

// hasPassword says whether a proxy URL carries a password (Airlock's
// socks5://USER:PASS@… always does).
func hasPassword(proxyURL string) bool {
	u, err := url.Parse(proxyURL)
	if err != nil {
		return true // cannot tell: treat it as secret
	}
	_, ok := u.User.Password()
	return ok
}

// editEntry strips every Airlock record from the entry at e's place in src and, when
// assigned, points it at proxyURL for Airlock cluster name.
func editEntry(src []byte, e *entry, assigned bool, name, proxyURL string) ([]byte, error) {
	find := func(src []byte) (*document, *entry, error) {
		d, err := parseDocument(src)
		if err != nil {
			return nil, nil, err
		}
		if e.index >= len(d.clusters) || d.clusters[e.index].name != e.name {
			return nil, nil, fmt.Errorf("%w: entry moved during the edit", ErrVerify)
		}
		return d, d.clusters[e.index], nil
	}
	d, cur, err := find(src)
	if err != nil {
		return nil, err
	}
	for range 8 {
		if cur.rec == nil {
			break
		}
		if src, err = d.strip(cur); err != nil {
			return nil, err
		}
		if d, cur, err = find(src); err != nil {
			return nil, err
		}
	}
	if !assigned {
		return src, nil
	}
	return d.put(cur, name, proxyURL)
}
