// Package kubeconfig points a user's kubeconfig at Airlock's per-cluster SOCKS5
// proxies and gives it back exactly as it was.
//
// A [Syncer] sets `proxy-url` on exactly the kubeconfig cluster entries an Airlock
// cluster serves ([Target]) and records what it changed in an `airlock` item of that
// entry's `extensions` list:
//
//	clusters:
//	- name: prod
//	  cluster:
//	    proxy-url: socks5://USER:PASS@127.0.0.2:1080
//	    extensions:
//	    - name: airlock
//	      extension:
//	        cluster: prod                 # the Airlock cluster
//	        applied: sha256:0123456789abcdef  # fingerprint of the proxy-url Airlock wrote
//	        previous-proxy-url: http://corp:3128     # only when the user had one
//	        previous-proxy-url-source: '"http://corp:3128"' # its exact source text, when not plain
//	    server: https://10.0.0.1:6443
//
// Disconnect (and [Cleanup] after a crash) restores the previous proxy-url — or removes
// the line when there was none — but only while the proxy-url still carries Airlock's
// fingerprint: a value someone else wrote later is left alone. The airlock item is
// removed, and so is the `extensions:` key when that item was its only one. Nothing
// else in the file is touched: not current-context, users, contexts or other entries.
//
// # Files
//
// The files are $KUBECONFIG (split by [os.PathListSeparator], duplicates dropped) or
// ~/.kube/config, as client-go's clientcmd loads them. The first file that defines a
// cluster name owns that entry; later definitions are shadowed and never edited. A
// symlinked kubeconfig is edited at its target. A missing file is skipped and picked
// up when it appears.
//
// Edits are splices into the original bytes: the parsed node tree (gopkg.in/yaml.v3)
// only locates the lines to insert, replace or delete, so comments, key order, quoting,
// indentation, line endings and every other byte stay as they were, and a connect
// followed by a disconnect gives back the original file byte for byte. Each edit is
// re-parsed and compared with the intended change on the node tree; an edit that does
// not mean exactly that is refused ([ErrVerify]). Entries written in flow style (JSON),
// with YAML anchors or aliases, or with a multi-line proxy-url are refused
// ([ErrUnsupported]) rather than rewritten.
//
// # Writing and locking
//
// Every write takes client-go's lock first: `FILE.lock` created with O_CREATE|O_EXCL
// for every file in the list (and the target of a symlink), in sorted order, as
// kubectl's ModifyConfig does, so a concurrent `kubectl config set-…` never loses an
// update (kubectl does not wait for a lock: it fails with "file exists" and changes
// nothing). The lock is held as briefly as that allows: the new file is planned on an
// unlocked read and written and fsynced beside the old one first (a temporary file in
// the same folder, the original mode and owner); under the lock the file is only read
// again, compared with the bytes the plan was made on, and renamed over (then the
// folder is fsynced). A file that changed meanwhile is planned again; after a few
// such misses the cycle writes under the lock, so a file that keeps changing cannot
// starve it. Airlock writes "airlock pid=N start=T" into the lock files it creates. A file that is
// read-only (no owner write bit), has several hard links, or does not parse is never
// written.
//
// Permissions. A proxy-url Airlock writes carries the listener's password, which lets
// anyone who reads it ride the user's session. So a file that is readable by group or
// others (0644 is common) is made private whenever it carries such a proxy-url: the
// write clears the group and other bits (0644 becomes 0600), the new bytes never exist
// with the old mode, the change is logged once as a warning and listed by
// [Syncer.Tightened]. A file loosened again later (chmod, a tool that rewrites it) is
// tightened again on the next event. Giving the entry back does not loosen the file:
// its bytes come back as they were, its mode stays private.
//
// Stale locks. kubectl leaves FILE.lock behind when it is killed while holding it, and
// every later `kubectl config` fails until someone removes it. A lock file is broken
// only when:
//
//   - it was written by an Airlock process that no longer runs (its pid is gone, is a
//     zombie, or belongs to a process started at another time), or
//   - it is older than [Options.StaleLockAge] (default 5 minutes; kubectl holds its lock
//     for milliseconds), a second look a second later finds the very same file (inode,
//     size, modification time), and, on Linux, no process has FILE or FILE.lock open.
//
// Breaking renames the lock to a unique name and checks that the renamed file is the
// one judged stale; otherwise it is put back with link(2), which never replaces a lock
// someone created in between. A younger lock is waited for up to
// [Options.LockTimeout] and then reported as [ErrLocked].
//
// # Entries for a joined edge
//
// [Syncer.Provision] writes whole entries for the apps of an edge the person joined
// (`airlock join`): per app a cluster (server, certificate-authority-data,
// tls-server-name), a context and a user of one name, the user the exec plugin
// `airlock credential` when the cluster trusts the edge as its OIDC issuer, else empty
// for the person to fill. Each carries an extensions item
//
//	extensions:
//	- name: airlock.dev/managed
//	  extension: {edge: acme, app: k8s.prod.example.com, hash: sha256:…}
//
// whose hash is of the entry's fields as written (proxy-url and extensions aside), so an
// entry the person changed is seen and never rewritten or removed (ManagedResult.Kept). New
// entries go at the end of the first file's lists, in one splice per list; current-context
// is set only when the file has none; an app without an identity whose server a cluster
// entry of the person's already names gets no entries (MapOnto). What Provision added
// beyond list items — the file and its folder, a list key, current-context, a final line
// break — is returned in [ManagedState] for the caller to keep, so that Provision with no
// entries gives the file back byte for byte, or removes what it created. It takes the same
// lock and writes the same way as the proxy-url sync, and runs that sync after.
//
// # Watching
//
// [Syncer.Run] watches the folders of the files with fsnotify (tools replace files by
// rename, so watching the file itself would miss them), waits for a burst of events to
// end ([Options.Debounce]) and re-applies the connected clusters: after
// `kubectl config set-cluster`, an editor's save, `gcloud … get-credentials` or a file
// or entry that appears later. A check that finds everything in place writes nothing,
// so Airlock's own writes do not cause a loop. Errors (a file that does not parse, is
// locked or read-only) show in [Syncer.Status] and are retried on the next event and
// on a timer.
package kubeconfig
