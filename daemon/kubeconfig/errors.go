package kubeconfig

import (
	"errors"
	"fmt"
)

// Causes a caller can test with errors.Is. Every error from this package about a file
// is a *[FileError] wrapping one of these or an error from the os package.
var (
	// ErrParse: the file is not a kubeconfig that parses; it is never written.
	ErrParse = errors.New("does not parse")
	// ErrLocked: another process holds FILE.lock longer than Options.LockTimeout.
	ErrLocked = errors.New("locked by another process")
	// ErrNotWritable: the file is read-only, or its folder or owner cannot be kept.
	ErrNotWritable = errors.New("not writable")
	// ErrUnsupported: the entry is written in a form Airlock does not edit (flow
	// style/JSON, anchors or aliases, a multi-line proxy-url, several hard links).
	ErrUnsupported = errors.New("not in a form airlock edits")
	// ErrConflict: the entry is mapped by two connected Airlock clusters.
	ErrConflict = errors.New("mapped by another airlock cluster")
	// ErrVerify: an edit, parsed again, did not mean exactly the intended change.
	ErrVerify = errors.New("edit did not verify")
)

// FileError says which kubeconfig file, and which cluster entry in it, an error is about.
type FileError struct {
	Path  string // the file as listed in Options.Paths (before symlinks are resolved)
	Entry string // the kubeconfig cluster entry, "" when the error is about the whole file
	Err   error  // the cause; wraps one of the Err* values above or an os error
}

func (e *FileError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("kubeconfig %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("kubeconfig %s: cluster %q: %v", e.Path, e.Entry, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// causef wraps a sentinel with detail: causef(ErrParse, "line %d: …", …).
func causef(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
