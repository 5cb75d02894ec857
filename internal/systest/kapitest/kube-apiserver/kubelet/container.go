package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/creack/pty"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// defaultCommand runs when a container names no command: it echoes its
// stdin, so attach has something to talk to and logs have lines.
var defaultCommand = []string{"cat"}

// container is one container of a pod: a real local process (its main
// process, the one attach talks to) whose output goes to a log file and to
// every attached client.
type container struct {
	name string
	dir  string // working directory of the main process and of exec
	env  []string
	log  *logFile

	cmd    *exec.Cmd
	stdin  io.WriteCloser // nil unless the container has stdin
	ptmx   *os.File       // the terminal's master side when tty
	tty    bool
	out    *fanout
	exited chan struct{}
	err    error // the main process's end, valid after exited
}

// startContainer starts c's main process in dir, which must exist.
func startContainer(dir string, spec corev1.Container) (*container, error) {
	c := &container{
		name:   spec.Name,
		dir:    dir,
		env:    containerEnv(spec),
		tty:    spec.TTY,
		out:    newFanout(),
		exited: make(chan struct{}),
	}
	lf, err := openLogFile(filepath.Join(dir, spec.Name+".log"))
	if err != nil {
		return nil, err
	}
	c.log = lf
	argv := append(append([]string{}, spec.Command...), spec.Args...)
	if len(argv) == 0 {
		argv = defaultCommand
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = c.env
	// Killed with the stand-in: a test killed by its timeout leaves no
	// container behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var output io.Reader
	if c.tty {
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
		if err != nil {
			_ = lf.Close()
			return nil, fmt.Errorf("start %s: %w", argv[0], err)
		}
		c.ptmx, output = ptmx, ptmx
		if spec.Stdin {
			c.stdin = ptmx
		}
	} else {
		pr, pw, err := os.Pipe()
		if err != nil {
			_ = lf.Close()
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = pw, pw
		if spec.Stdin {
			if c.stdin, err = cmd.StdinPipe(); err != nil {
				_ = lf.Close()
				return nil, err
			}
		}
		cmd.SysProcAttr.Setpgid = true
		if err := cmd.Start(); err != nil {
			_ = lf.Close()
			_ = pr.Close()
			_ = pw.Close()
			return nil, fmt.Errorf("start %s: %w", argv[0], err)
		}
		_ = pw.Close()
		output = pr
	}
	c.cmd = cmd
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 32<<10)
		for {
			n, err := output.Read(buf)
			if n > 0 {
				_, _ = c.log.Write(buf[:n])
				c.out.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		c.err = cmd.Wait()
		if c.ptmx == nil {
			<-copied
		}
		c.out.CloseAll()
		close(c.exited)
	}()
	return c, nil
}

// containerEnv is the container's env on top of a PATH the host's tools
// are found on.
func containerEnv(spec corev1.Container) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/tmp", "TERM=xterm"}
	for _, e := range spec.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// stop kills the main process and waits for it.
func (c *container) stop() {
	if c.cmd.Process != nil {
		if c.tty {
			_ = c.cmd.Process.Kill()
		} else {
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	<-c.exited
	if c.ptmx != nil {
		_ = c.ptmx.Close()
	}
	_ = c.log.Close()
}

// exec runs cmd as a local process in the container's folder, wired to the
// client's streams: through a new terminal when tty, resized as asked.
func (c *container) exec(ctx context.Context, argv []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	if len(argv) == 0 {
		return errors.New("no command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if tty {
		return execTTY(cmd, in, out, resize)
	}
	if out != nil {
		cmd.Stdout = out
	}
	if errw != nil {
		cmd.Stderr = errw
	}
	var stdin io.WriteCloser
	if in != nil {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			return err
		}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if in != nil {
		// Not waited for: the client's stream ends when the connection
		// does, after this returns.
		go func() {
			_, _ = io.Copy(stdin, in)
			_ = stdin.Close()
		}()
	}
	return exitError(cmd.Wait())
}

// execTTY runs cmd on a new terminal.
func execTTY(cmd *exec.Cmd, in io.Reader, out io.Writer, resize <-chan remotecommand.TerminalSize) error {
	ptmx, err := pty.Start(cmd)
	if err != nil {
		return err
	}
	defer ptmx.Close()
	done := make(chan struct{})
	defer close(done)
	go followResize(ptmx, resize, done)
	if in != nil {
		go func() { _, _ = io.Copy(ptmx, in) }()
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		if out != nil {
			_, _ = io.Copy(out, ptmx) // ends with EIO once every slave is closed
		} else {
			_, _ = io.Copy(io.Discard, ptmx)
		}
	}()
	err = cmd.Wait()
	<-copied
	return exitError(err)
}

// followResize applies each size the client sends to the terminal.
func followResize(ptmx *os.File, resize <-chan remotecommand.TerminalSize, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case sz, ok := <-resize:
			if !ok {
				return
			}
			_ = pty.Setsize(ptmx, &pty.Winsize{Rows: sz.Height, Cols: sz.Width})
		}
	}
}

// exitError gives a process's exit status the type the streaming library
// reports to the client as an exit code.
func exitError(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() >= 0 {
		return utilexec.CodeExitError{Err: err, Code: ee.ExitCode()}
	}
	return err
}

// attach connects the client to the main process: its input to the
// process's stdin, the process's output to out. It returns when the client's
// input ends, its output fails, or the process exits.
func (c *container) attach(ctx context.Context, in io.Reader, out, errw io.WriteCloser, resize <-chan remotecommand.TerminalSize) error {
	detached := make(chan struct{})
	var once sync.Once
	detach := func() { once.Do(func() { close(detached) }) }
	if out != nil {
		remove := c.out.Add(out, detach)
		defer remove()
	}
	if errw != nil && !c.tty {
		remove := c.out.Add(errw, detach)
		defer remove()
	}
	if c.ptmx != nil {
		done := make(chan struct{})
		defer close(done)
		go followResize(c.ptmx, resize, done)
	}
	if in != nil && c.stdin != nil {
		go func() {
			_, _ = io.Copy(c.stdin, in)
			detach()
		}()
	}
	select {
	case <-ctx.Done():
	case <-detached:
	case <-c.exited:
	}
	return nil
}

// fanout copies the main process's output to every attached client.
type fanout struct {
	mu   sync.Mutex
	next int
	subs map[int]sub
}

type sub struct {
	w      io.Writer
	onFail func()
}

func newFanout() *fanout { return &fanout{subs: map[int]sub{}} }

// Add sends future output to w; onFail runs when a write to w fails or the
// output ends. The returned func removes w.
func (f *fanout) Add(w io.Writer, onFail func()) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.next
	f.next++
	f.subs[id] = sub{w, onFail}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

// Write writes p to every subscriber, dropping those that fail.
func (f *fanout) Write(p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, s := range f.subs {
		if _, err := s.w.Write(p); err != nil {
			delete(f.subs, id)
			s.onFail()
		}
	}
}

// CloseAll tells every subscriber the output has ended.
func (f *fanout) CloseAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, s := range f.subs {
		delete(f.subs, id)
		s.onFail()
	}
}
