package kubelet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
)

// logFile is a container's log: the main process's output appended to a
// file, with a signal for followers each time it grows.
type logFile struct {
	path string

	mu     sync.Mutex
	f      *os.File
	grew   chan struct{} // closed and replaced on every write
	closed bool
}

func openLogFile(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("container log: %w", err)
	}
	return &logFile{path: path, f: f, grew: make(chan struct{})}, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	n, err := l.f.Write(p)
	close(l.grew)
	l.grew = make(chan struct{})
	return n, err
}

// Close ends the log; followers see its end.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	close(l.grew)
	return l.f.Close()
}

// changed returns a channel closed at the next write, and whether the log
// is still open.
func (l *logFile) changed() (<-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.grew, !l.closed
}

// serve writes the log to w as the kubelet's /containerLogs does: all of it
// (or the last tailLines lines), then, with follow, what is appended until
// the client goes away or the container ends.
func (l *logFile) serve(ctx context.Context, w http.ResponseWriter, q map[string][]string) {
	follow, _ := strconv.ParseBool(first(q["follow"]))
	tail := int64(-1)
	if s := first(q["tailLines"]); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			tail = n
		}
	}
	f, err := os.Open(l.path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	// Take the signal before reading, so a write after the read is seen.
	grew, open := l.changed()
	b, err := io.ReadAll(f)
	if err != nil {
		return
	}
	if tail >= 0 {
		b = lastLines(b, tail)
	}
	if _, err := w.Write(b); err != nil {
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
	for follow && open {
		select {
		case <-ctx.Done():
			return
		case <-grew:
		}
		grew, open = l.changed()
		if _, err := io.Copy(w, f); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// lastLines returns the last n lines of b.
func lastLines(b []byte, n int64) []byte {
	if n == 0 {
		return nil
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n--
			if n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
