// Package tokens supplies the access token the daemon puts in every stream
// it opens. [Source] is the seam the sign-in work plugs into; for now a
// cluster's token is a service token from the configuration, inline
// ([Static]) or in a file ([File]).
package tokens

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Source returns a token for the next stream. Token is called once per
// stream, so it must be cheap when nothing changed. A Source that cannot
// supply a token returns an error wrapping [ErrUnavailable], with a message
// that says what the user should do; the SOCKS client then sees "not
// allowed" and the cluster shows the message.
type Source interface {
	Token(ctx context.Context) (string, error)
}

// Invalidator is a Source whose tokens can go stale before they expire
// (a sign-in the edge revoked, keys it rotated): when the edge refuses a
// token as unauthenticated, the caller hands it back with Invalidate and
// asks again, once.
type Invalidator interface {
	Invalidate(token string)
}

// ErrUnavailable is wrapped by errors of a Source that has no token.
var ErrUnavailable = errors.New("no token available")

// Static is a fixed token.
type Static string

// Token implements Source.
func (s Static) Token(context.Context) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: the token is empty", ErrUnavailable)
	}
	return string(s), nil
}

// maxTokenFile bounds a token file: a token is a few hundred bytes.
const maxTokenFile = 64 << 10

// File reads a token from a file and re-reads it when its size or
// modification time changes, so a rotated service token takes effect on the
// next stream without a restart.
type File struct {
	path string

	mu    sync.Mutex
	size  int64
	mtime time.Time
	tok   string
}

// NewFile returns a Source reading path.
func NewFile(path string) *File { return &File{path: path} }

// Token implements Source.
func (f *File) Token(context.Context) (string, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("%w: token file: %v", ErrUnavailable, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tok != "" && st.Size() == f.size && st.ModTime().Equal(f.mtime) {
		return f.tok, nil
	}
	if st.Size() > maxTokenFile {
		return "", fmt.Errorf("%w: token file %s is %d bytes, limit %d", ErrUnavailable, f.path, st.Size(), maxTokenFile)
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return "", fmt.Errorf("%w: token file: %v", ErrUnavailable, err)
	}
	tok := string(bytes.TrimSpace(data))
	if tok == "" {
		return "", fmt.Errorf("%w: token file %s is empty", ErrUnavailable, f.path)
	}
	f.tok, f.size, f.mtime = tok, st.Size(), st.ModTime()
	return tok, nil
}
