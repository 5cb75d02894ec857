package kubeconfig

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ManagedExtension names the extensions item that marks a cluster, context
// or user entry as written by Airlock for a joined edge's app. It holds the
// edge, the app and the hash of what Airlock wrote, so that a person's own
// edit is seen (and the entry kept) rather than overwritten.
const ManagedExtension = "airlock.dev/managed"

// Managed is the set of entries (a cluster, a context and a user of one
// name) Airlock writes for one app of a joined edge.
type Managed struct {
	// Name names the cluster, context and user entries.
	Name string
	// App is the app's hostname, kept in the mark.
	App string
	// Server, CAData (base64 PEM) and TLSServerName are the cluster's.
	Server, CAData, TLSServerName string
	// Exec is the user's exec credential plugin; nil writes an empty user
	// for the person to fill, unless a cluster entry of theirs already
	// names Server: then nothing is added and MapOnto reports it.
	Exec *Exec
}

// Exec is a client.authentication.k8s.io/v1 exec plugin.
type Exec struct {
	Command string
	Args    []string
}

// ManagedState is what a previous Provision of the same owner did, kept by
// the caller between calls so that removing everything gives the file back
// exactly as it was.
type ManagedState struct {
	File       string            `json:"file,omitempty"`
	Created    bool              `json:"created,omitempty"`
	CreatedDir bool              `json:"created_dir,omitempty"`
	Current    string            `json:"current_context,omitempty"` // the current-context Provision set
	CurrentSrc *string           `json:"current_src,omitempty"`     // the line(s) it replaced ("" when absent)
	Keys       map[string]string `json:"keys,omitempty"`            // top-level key -> the text it replaced ("" when absent)
	AddedEOL   bool              `json:"added_eol,omitempty"`       // the file did not end with a line break
}

// ManagedResult says what Provision did.
type ManagedResult struct {
	File    string
	Added   []string          // context names added
	Removed []string          // context names removed
	Kept    []string          // entries the person changed: left as they are
	MapOnto map[string]string // Managed.Name -> the person's cluster entry with the same server
	// Current is the current-context set because the file had none.
	Current string
	State   ManagedState

	removeDir string // the folder to remove once the lock is released
}

// ErrManagedEdited is joined into Provision's error for entries the person
// changed since Airlock wrote them; they are left alone.
var ErrManagedEdited = errors.New("changed since airlock wrote it; left as it is")

// Provision makes the kubeconfig hold exactly want for owner (a joined
// edge): entries of owner's that are no longer wanted are removed, new ones
// added, changed ones (the operator published other details) rewritten. An
// entry the person edited is never rewritten or removed: it is listed in
// Kept. With want empty it takes everything of owner's back out and gives
// the file back as it was before the first Provision (st says what that
// did), or removes the file when Provision created it.
//
// New entries go into the first kubeconfig file, at the end of its lists;
// every other byte stays as it was. current-context is set only when the
// file has none. The write takes kubectl's lock and replaces the file
// atomically, as the proxy-url sync does; then that sync runs, so the new
// cluster entries get their proxy-url.
func (s *Syncer) Provision(ctx context.Context, owner string, want []Managed, st ManagedState) (ManagedResult, error) {
	res, err := s.provision(ctx, owner, want, st)
	if res.removeDir != "" {
		_ = os.Remove(res.removeDir) // only when empty
	}
	if err == nil || errors.Is(err, ErrManagedEdited) {
		s.cycle(ctx, false)
	}
	return res, err
}

func (s *Syncer) provision(ctx context.Context, owner string, want []Managed, st ManagedState) (ManagedResult, error) {
	s.cycleMu.Lock()
	defer s.cycleMu.Unlock()
	file := st.File
	if file == "" {
		file = s.paths[0]
	}
	real, err := resolve(file)
	if err != nil {
		return ManagedResult{}, &FileError{Path: file, Err: err}
	}
	if real == "" {
		real = file
	}
	held, err := s.locker.lockAll(ctx, s.lockFiles())
	if err != nil {
		return ManagedResult{}, err
	}
	defer s.locker.unlockAll(held)
	src, err := os.ReadFile(real)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return ManagedResult{}, &FileError{Path: file, Err: err}
	}
	if !exists && len(want) == 0 {
		return ManagedResult{File: file, State: ManagedState{}}, nil
	}
	res := ManagedResult{File: file, MapOnto: map[string]string{}}
	if st.Keys == nil {
		st.Keys = map[string]string{}
	}
	if !exists {
		st = ManagedState{File: file, Created: true, Keys: map[string]string{}}
		if _, err := os.Stat(filepath.Dir(real)); errors.Is(err, fs.ErrNotExist) {
			st.CreatedDir = true
		}
		src = []byte("apiVersion: v1\nkind: Config\n")
	}
	st.File = file
	ed := &managedEdit{src: src, owner: owner, st: &st, res: &res}
	if len(ed.src) > 0 && !bytes.HasSuffix(ed.src, []byte("\n")) && len(want) > 0 {
		ed.src = append(bytes.Clone(ed.src), '\n')
		st.AddedEOL = true
	}
	if err := ed.apply(want); err != nil {
		return res, &FileError{Path: file, Err: err}
	}
	if len(want) == 0 && st.AddedEOL && len(ed.ours(ed.mustTop())) == 0 {
		ed.src = bytes.TrimSuffix(ed.src, []byte("\n"))
		st.AddedEOL = false
	}
	res.State = st
	var edited error
	if len(res.Kept) > 0 {
		edited = fmt.Errorf("kubeconfig %s: %s: %w", file, strings.Join(res.Kept, ", "), ErrManagedEdited)
	}
	if len(want) == 0 && st.Created && ed.onlySkeleton() {
		if err := os.Remove(real); err != nil {
			return res, &FileError{Path: file, Err: err}
		}
		if st.CreatedDir {
			res.removeDir = filepath.Dir(real)
		}
		res.State = ManagedState{}
		return res, edited
	}
	if bytes.Equal(ed.src, src) && exists {
		return res, edited
	}
	if len(want) == 0 && !st.Created {
		res.State = ManagedState{}
	}
	if !exists {
		if err := os.MkdirAll(filepath.Dir(real), 0o700); err != nil {
			return res, &FileError{Path: file, Err: err}
		}
		if err := os.WriteFile(real, nil, 0o600); err != nil {
			return res, &FileError{Path: file, Err: err}
		}
	}
	info, err := os.Stat(real)
	if err != nil {
		return res, &FileError{Path: file, Err: err}
	}
	if err := checkWritable(real, info); err != nil {
		return res, &FileError{Path: file, Err: err}
	}
	tmp, err := stageAtomic(real, ed.src, info, private(info.Mode().Perm()))
	if err != nil {
		return res, &FileError{Path: file, Err: err}
	}
	if err := commitAtomic(tmp, real); err != nil {
		return res, &FileError{Path: file, Err: err}
	}
	if err := syncDir(filepath.Dir(real)); err != nil {
		s.log.Warn("cannot sync the kubeconfig folder", "dir", filepath.Dir(real), "err", err)
	}
	s.log.Info("kubeconfig entries of a joined edge updated", "file", file, "edge", owner, "added", res.Added, "removed", res.Removed)
	return res, edited
}

// managedEdit applies one Provision to a file's bytes, one splice at a
// time, re-parsing after each.
type managedEdit struct {
	src   []byte
	owner string
	st    *ManagedState
	res   *ManagedResult
}

// lists are the kubeconfig lists a Managed has an item in, and the key
// each item keeps its fields under.
var lists = []struct{ key, inner string }{{"clusters", "cluster"}, {"contexts", "context"}, {"users", "user"}}

// mark is the content of Airlock's extensions item.
type mark struct {
	Edge string `yaml:"edge" json:"edge"`
	App  string `yaml:"app" json:"app"`
	Hash string `yaml:"hash" json:"hash"`
}

// found is one list item of owner's.
type found struct {
	list   string
	name   string
	item   *yaml.Node
	mark   mark
	edited bool
}

// parse parses the current bytes; d.top is nil for an empty file. The
// nodes it returns are the ones d's regions know.
func (ed *managedEdit) parse() (*document, error) {
	d, err := parseDocument(ed.src)
	if err != nil {
		return nil, err
	}
	if d.top != nil && d.top.Style&yaml.FlowStyle != 0 {
		return nil, causef(ErrUnsupported, "the top level is in flow style")
	}
	return d, nil
}

// mustTop is the current top-level mapping, nil when it does not parse.
func (ed *managedEdit) mustTop() *yaml.Node {
	d, err := ed.parse()
	if err != nil {
		return nil
	}
	return d.top
}

// ours lists owner's items in every list.
func (ed *managedEdit) ours(top *yaml.Node) []found {
	var out []found
	for _, l := range lists {
		_, list := mapGet(top, l.key)
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		for _, it := range list.Content {
			_, inner := mapGet(it, l.inner)
			_, name := mapGet(it, "name")
			m, ok := findMark(inner)
			if !ok || m.Edge != ed.owner || name == nil {
				continue
			}
			out = append(out, found{list: l.key, name: name.Value, item: it, mark: m, edited: entryHash(inner) != m.Hash})
		}
	}
	return out
}

func findMark(inner *yaml.Node) (mark, bool) {
	_, ext := mapGet(inner, "extensions")
	if ext == nil || ext.Kind != yaml.SequenceNode {
		return mark{}, false
	}
	for _, it := range ext.Content {
		if _, n := mapGet(it, "name"); n == nil || n.Value != ManagedExtension {
			continue
		}
		var m mark
		if _, x := mapGet(it, "extension"); x != nil && x.Decode(&m) == nil {
			return m, true
		}
		return mark{}, true
	}
	return mark{}, false
}

// entryHash is the hash of an entry's fields as Airlock wrote them: all
// but its extensions and the proxy-url the proxy sync sets.
func entryHash(inner *yaml.Node) string {
	var v map[string]any
	if inner == nil || inner.Decode(&v) != nil {
		return ""
	}
	delete(v, "extensions")
	delete(v, "proxy-url")
	data, _ := json.Marshal(v) // maps marshal in key order
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:16])
}

func (ed *managedEdit) apply(want []Managed) error {
	d, err := ed.parse()
	if err != nil {
		return err
	}
	top := d.top
	wanted := map[string]Managed{}
	for _, w := range want {
		wanted[w.Name] = w
	}
	// Which of ours stay: an entry that is wanted as it is, or that the
	// person edited. The rest go.
	keep := map[string]bool{} // list/name
	edited := map[string]bool{}
	for _, f := range ed.ours(top) {
		w, ok := wanted[f.name]
		switch {
		case f.edited:
			keep[f.list+"/"+f.name] = true
			edited[f.name] = true
			ed.res.Kept = append(ed.res.Kept, f.list+"/"+f.name)
		case ok && f.mark.Hash == entryHash(innerNode(itemsFor(w, ed.owner)[f.list])):
			keep[f.list+"/"+f.name] = true
		}
	}
	// Every entry that goes, in one pass: whole list items, so their
	// regions never overlap.
	var cuts []splice
	for _, f := range ed.ours(top) {
		if keep[f.list+"/"+f.name] {
			continue
		}
		st, end, err := d.region(f.item, f.item, true)
		if err != nil {
			return err
		}
		cuts = append(cuts, splice{st, end, ""})
		if _, still := wanted[f.name]; f.list == "contexts" && !still {
			ed.res.Removed = append(ed.res.Removed, f.name)
		}
	}
	if len(cuts) > 0 {
		out, err := applySplices(ed.src, cuts)
		if err != nil {
			return err
		}
		ed.src = out
	}
	// What is missing, list by list: one splice per list.
	if d, err = ed.parse(); err != nil {
		return err
	}
	add := map[string][]*yaml.Node{}
	for _, w := range want {
		if w.Exec == nil && !edited[w.Name] {
			if mine := personsServer(d.top, w.Server, ed.owner); mine != "" {
				ed.res.MapOnto[w.Name] = mine
				continue
			}
		}
		items := itemsFor(w, ed.owner)
		for _, l := range lists {
			switch {
			case keep[l.key+"/"+w.Name]:
			case existing(d.top, l.key, w.Name):
				ed.res.Kept = append(ed.res.Kept, l.key+"/"+w.Name+" (a "+l.inner+" of that name is yours)")
			default:
				add[l.key] = append(add[l.key], items[l.key])
				if l.key == "contexts" {
					ed.res.Added = append(ed.res.Added, w.Name)
				}
			}
		}
	}
	for _, l := range lists {
		if len(add[l.key]) == 0 {
			continue
		}
		d, err := ed.parse()
		if err != nil {
			return err
		}
		if err := ed.appendItems(d, l.key, add[l.key]); err != nil {
			return err
		}
	}
	return ed.fixKeys(want)
}

func innerNode(item *yaml.Node) *yaml.Node {
	_, _, inner := itemParts(item)
	return inner
}

func itemParts(item *yaml.Node) (string, *yaml.Node, *yaml.Node) {
	_, name := mapGet(item, "name")
	for i := 0; i+1 < len(item.Content); i += 2 {
		if k := item.Content[i].Value; k != "name" {
			return name.Value, item.Content[i], item.Content[i+1]
		}
	}
	return name.Value, nil, nil
}

// itemsFor renders w's three items as node trees, each with its mark.
func itemsFor(w Managed, owner string) map[string]*yaml.Node {
	m := func(kv ...any) *yaml.Node {
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for i := 0; i+1 < len(kv); i += 2 {
			var v *yaml.Node
			switch x := kv[i+1].(type) {
			case string:
				v = strNode(x)
			case *yaml.Node:
				v = x
			}
			n.Content = append(n.Content, strNode(kv[i].(string)), v)
		}
		return n
	}
	cluster := m("server", w.Server)
	if w.CAData != "" {
		cluster.Content = append(cluster.Content, strNode("certificate-authority-data"), strNode(w.CAData))
	}
	if w.TLSServerName != "" {
		cluster.Content = append(cluster.Content, strNode("tls-server-name"), strNode(w.TLSServerName))
	}
	context := m("cluster", w.Name, "user", w.Name)
	user := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if w.Exec != nil {
		args := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, a := range w.Exec.Args {
			args.Content = append(args.Content, strNode(a))
		}
		user = m("exec", m("apiVersion", "client.authentication.k8s.io/v1", "command", w.Exec.Command, "args", args, "interactiveMode", "IfAvailable"))
	}
	out := map[string]*yaml.Node{}
	for _, x := range []struct {
		list, inner string
		n           *yaml.Node
	}{{"clusters", "cluster", cluster}, {"contexts", "context", context}, {"users", "user", user}} {
		hash := entryHash(x.n)
		ext := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{
			m("name", ManagedExtension, "extension", m("edge", owner, "app", w.App, "hash", hash)),
		}}
		x.n.Content = append(x.n.Content, strNode("extensions"), ext)
		out[x.list] = m("name", w.Name, x.inner, x.n)
	}
	return out
}

// personsServer is the name of a cluster entry not of owner's whose server
// is server.
func personsServer(top *yaml.Node, server, owner string) string {
	_, list := mapGet(top, "clusters")
	if list == nil || list.Kind != yaml.SequenceNode {
		return ""
	}
	for _, it := range list.Content {
		_, inner := mapGet(it, "cluster")
		_, s := mapGet(inner, "server")
		_, name := mapGet(it, "name")
		if m, ok := findMark(inner); ok && m.Edge == owner {
			continue
		}
		if s != nil && name != nil && s.Value == server {
			return name.Value
		}
	}
	return ""
}

func existing(top *yaml.Node, key, name string) bool {
	_, list := mapGet(top, key)
	if list == nil || list.Kind != yaml.SequenceNode {
		return false
	}
	for _, it := range list.Content {
		if _, n := mapGet(it, "name"); n != nil && n.Value == name {
			return true
		}
	}
	return false
}

// renderItem renders a list item in block style; dash is the text before
// "- ".
func renderItem(item *yaml.Node, dash string) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{item}}
	if err := enc.Encode(seq); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, l := range strings.SplitAfter(buf.String(), "\n") {
		if l != "" {
			b.WriteString(dash + l)
		}
	}
	return b.String(), nil
}

// appendItems adds items at the end of list key, creating the key when the
// file has none (or an empty one) and remembering what it replaced.
func (ed *managedEdit) appendItems(d *document, key string, items []*yaml.Node) error {
	render := func(dash string) (string, error) {
		var b strings.Builder
		for _, it := range items {
			t, err := renderItem(it, dash)
			if err != nil {
				return "", err
			}
			b.WriteString(t)
		}
		return b.String(), nil
	}
	k, list := mapGet(d.top, key)
	if list != nil && list.Kind == yaml.SequenceNode && list.Style&yaml.FlowStyle == 0 && len(list.Content) > 0 {
		last := list.Content[len(list.Content)-1]
		dash, err := d.indent(list)
		if err != nil {
			// "- " right after the key's line start: take the item's column.
			dash = strings.Repeat(" ", max(list.Column-1, 0))
		}
		text, err := render(dash)
		if err != nil {
			return err
		}
		_, end, err := d.region(last, last, true)
		if err != nil {
			return err
		}
		if end == len(ed.src) && len(ed.src) > 0 && !bytes.HasSuffix(ed.src, []byte("\n")) {
			text = "\n" + text
		}
		ed.src = append(ed.src[:end:end], append([]byte(text), ed.src[end:]...)...)
		return nil
	}
	text, err := render("")
	if err != nil {
		return err
	}
	if k == nil {
		// A new key at the end of the file.
		ed.st.Keys[key] = ""
		pre := ""
		if len(ed.src) > 0 && !bytes.HasSuffix(ed.src, []byte("\n")) {
			pre = "\n"
		}
		ed.src = append(ed.src, pre+key+":\n"+text...)
		return nil
	}
	if list.Kind == yaml.SequenceNode && len(list.Content) > 0 {
		return causef(ErrUnsupported, "line %d: %s is a flow-style list", k.Line, key)
	}
	if !(list.Kind == yaml.ScalarNode && list.ShortTag() == "!!null" || list.Kind == yaml.SequenceNode) {
		return causef(ErrUnsupported, "line %d: %s is not a list", k.Line, key)
	}
	// An empty list (null, [], or nothing): replace its lines, keeping them
	// to give back.
	s, e, err := d.region(k, list, false)
	if err != nil {
		return err
	}
	if _, seen := ed.st.Keys[key]; !seen {
		ed.st.Keys[key] = string(ed.src[s:e])
	}
	ed.src = append(ed.src[:s:s], append([]byte(key+":\n"+text), ed.src[e:]...)...)
	return nil
}

// fixKeys gives back the keys Provision added or replaced that are empty
// again, and sets or gives back current-context.
func (ed *managedEdit) fixKeys(want []Managed) error {
	for _, l := range lists {
		orig, ok := ed.st.Keys[l.key]
		if !ok {
			continue
		}
		d, err := ed.parse()
		if err != nil {
			return err
		}
		top := d.top
		k, list := mapGet(top, l.key)
		empty := list != nil && (list.Kind == yaml.SequenceNode && len(list.Content) == 0 || list.Kind == yaml.ScalarNode && list.ShortTag() == "!!null")
		if k == nil || !empty || ed.st.Created {
			continue
		}
		s, e, err := d.region(k, list, false)
		if err != nil {
			return err
		}
		ed.src = append(ed.src[:s:s], append([]byte(orig), ed.src[e:]...)...)
		delete(ed.st.Keys, l.key)
	}
	d, err := ed.parse()
	if err != nil {
		return err
	}
	top := d.top
	k, cur := mapGet(top, "current-context")
	switch {
	case len(want) == 0 || ed.st.Current != "" && !slices.ContainsFunc(want, func(m Managed) bool { return m.Name == ed.st.Current }):
		// Give current-context back while it is still the one we set.
		if ed.st.Current == "" || cur == nil || cur.Value != ed.st.Current || ed.st.CurrentSrc == nil {
			if cur != nil && cur.Value != ed.st.Current {
				ed.st.Current, ed.st.CurrentSrc = "", nil // the person moved it: theirs now
			}
			return nil
		}
		s, e, err := d.region(k, cur, false)
		if err != nil {
			return err
		}
		ed.src = append(ed.src[:s:s], append([]byte(*ed.st.CurrentSrc), ed.src[e:]...)...)
		ed.st.Current, ed.st.CurrentSrc = "", nil
	case cur == nil || cur.Value == "":
		name := firstAdded(want, ed.res)
		if name == "" {
			return nil
		}
		line := "current-context: " + scalar(name) + "\n"
		src := ""
		if k == nil {
			pre := ""
			if len(ed.src) > 0 && !bytes.HasSuffix(ed.src, []byte("\n")) {
				pre = "\n"
			}
			ed.src = append(ed.src, pre+line...)
			if pre != "" {
				// Giving back removes the added line break too.
				src = ""
			}
		} else {
			s, e, err := d.region(k, cur, false)
			if err != nil {
				return err
			}
			src = string(ed.src[s:e])
			ed.src = append(ed.src[:s:s], append([]byte(line), ed.src[e:]...)...)
		}
		ed.st.Current, ed.st.CurrentSrc = name, &src
		ed.res.Current = name
	}
	return nil
}

// firstAdded is the context to make current: the first wanted one of ours
// that is in the file, with an exec user first.
func firstAdded(want []Managed, res *ManagedResult) string {
	for _, pass := range []bool{true, false} {
		for _, w := range want {
			if _, mapped := res.MapOnto[w.Name]; mapped {
				continue
			}
			if (w.Exec != nil) == pass {
				return w.Name
			}
		}
	}
	return ""
}

// onlySkeleton says whether what is left of a file Provision created is
// what it started it with.
func (ed *managedEdit) onlySkeleton() bool {
	var v map[string]any
	if yaml.Unmarshal(ed.src, &v) != nil {
		return false
	}
	for k, x := range v {
		switch k {
		case "apiVersion", "kind":
		case "clusters", "contexts", "users":
			if l, ok := x.([]any); x != nil && (!ok || len(l) > 0) {
				return false
			}
		case "current-context":
			if x != nil && x != "" {
				return false
			}
		default:
			return false
		}
	}
	return true
}
