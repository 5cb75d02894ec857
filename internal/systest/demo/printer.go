package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// printer writes the demo's terminal output; the sign-in watcher and the
// main flow share it, one whole message at a time.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

// f prints a message and a newline.
func (p *printer) f(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// step prints one step of something under way, indented.
func (p *printer) step(format string, args ...any) {
	p.f("  · "+format, args...)
}

// block prints text as it is, ending it with a newline.
func (p *printer) block(text string) {
	if text == "" {
		return
	}
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, text)
}
