package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/airlockhq/airlock/internal/systest/kapitest"
	"github.com/airlockhq/airlock/internal/systest/netns"
	"github.com/airlockhq/airlock/internal/systest/stack"
	"github.com/airlockhq/airlock/internal/testenv"
)

// streamsPod is the pod the stream tests run on the kubelet stand-in's
// node. Its containers are local processes: "main" echoes its stdin (attach),
// "logger" logs each line written to its fifo "in" (logs -f), "term" is cat
// on a terminal. Port 8080 is forwarded to a loopback echo server.
const streamsPod = "streams"

func streamsManifest(echoAddr string) string {
	return `apiVersion: v1
kind: ServiceAccount
metadata: {name: default}
---
apiVersion: v1
kind: Pod
metadata:
  name: ` + streamsPod + `
  annotations:
    ` + kapitest.PortAnnotationPrefix + `8080: "` + echoAddr + `"
spec:
  nodeName: ` + kapitest.NodeName + `
  containers:
  - {name: main, image: standin, command: [sh, -c, "echo started; exec cat"], stdin: true}
  - {name: logger, image: standin, command: [sh, -c, "mkfifo in && echo started && while :; do cat in; done"]}
  - {name: term, image: standin, command: [cat], stdin: true, tty: true}
`
}

// streamMode is how a kubectl carries a stream: SPDY upgrades, or
// WebSocket ones (kubectl 1.30+ for exec/attach/cp, 1.31+ for
// port-forward), or plain HTTP for logs and watches.
type streamMode struct {
	name string
	env  []string
}

var (
	modeHTTP = streamMode{"http", nil}
	modeSPDY = streamMode{"spdy", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}}
	modeWS   = streamMode{"websocket", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true", "KUBECTL_PORT_FORWARD_WEBSOCKETS=true"}}
)

// streamKind says which upgrade a command uses, hence its modes.
type streamKind int

const (
	plainHTTP     streamKind = iota // logs, watches
	remoteCommand                   // exec, attach, cp: WebSocket from kubectl 1.30
	portForward                     // WebSocket from kubectl 1.31
)

func (k streamKind) modes(minor int) []streamMode {
	switch {
	case k == plainHTTP:
		return []streamMode{modeHTTP}
	case k == remoteCommand && minor >= 30, k == portForward && minor >= 31:
		return []streamMode{modeSPDY, modeWS}
	default:
		return []streamMode{modeSPDY}
	}
}

// streamKubectl is one kubectl in one mode, talking through Airlock.
type streamKubectl struct {
	s    *stack.Stack
	bin  string
	mode streamMode
	tag  string    // unique per subtest, for names and payloads
	ns   *netns.NS // where kubectl runs; nil is the test's own namespace
}

func (k streamKubectl) command(ctx context.Context, args ...string) *exec.Cmd {
	args = append([]string{"--kubeconfig", k.s.Kubeconfig}, args...)
	cmd := exec.CommandContext(ctx, k.bin, args...)
	if k.ns != nil {
		cmd = k.ns.Command(ctx, k.bin, args...)
	}
	cmd.Env = append(append(os.Environ(), "HOME="+k.s.Dir), k.mode.env...)
	return cmd
}

// run runs kubectl to its end and returns stdout, failing tb on an error.
func (k streamKubectl) run(tb testing.TB, stdin io.Reader, args ...string) string {
	tb.Helper()
	cmd := k.command(testenv.Context(tb), args...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", filepath.Base(k.bin), strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// TestKubectlStreams runs the long-lived kubectl streams through Airlock,
// with every kubectl on the machine and each upgrade it can use, against
// the real kube-apiserver and a node whose streaming API is the real
// kubelet library (kapitest's kubelet stand-in): exec -i and -it (on a
// terminal, resized), attach, logs -f, port-forward, cp and get -w.
func TestKubectlStreams(t *testing.T) {
	s := startStack(t, stack.Options{KubeAPI: kapitest.Options{Kubelet: true}})
	echo := startEchoServer(t)
	admin := streamKubectl{s: s, bin: "/usr/bin/kubectl", mode: modeHTTP}
	manifest := filepath.Join(t.TempDir(), "streams.yaml")
	if err := os.WriteFile(manifest, []byte(streamsManifest(echo)), 0o600); err != nil {
		t.Fatal(err)
	}
	admin.run(t, nil, "apply", "-f", manifest)
	admin.run(t, nil, "wait", "--for=condition=Ready", "pod/"+streamsPod, "--timeout=5m")

	tests := []struct {
		name string
		kind streamKind
		run  func(t *testing.T, k streamKubectl)
	}{
		{"exec -i", remoteCommand, testExecStdin},
		{"exec -it", remoteCommand, testExecTTY},
		{"attach", remoteCommand, testAttach},
		{"cp", remoteCommand, testCp},
		{"port-forward", portForward, testPortForward},
		{"logs -f", plainHTTP, testLogsFollow},
		{"get -w", plainHTTP, testGetWatch},
	}
	for _, bin := range kubectls(t) {
		minor := kubectlMinor(t, bin)
		t.Run(filepath.Base(bin), func(t *testing.T) {
			for _, tc := range tests {
				for _, mode := range tc.kind.modes(minor) {
					t.Run(tc.name+"/"+mode.name, func(t *testing.T) {
						tag := fmt.Sprintf("%s-%s-%s", strings.ReplaceAll(filepath.Base(bin), ".", "-"), strings.Fields(tc.name)[0], mode.name)
						tc.run(t, streamKubectl{s: s, bin: bin, mode: mode, tag: tag})
					})
				}
			}
		})
	}
}

// testExecStdin pipes stdin through exec -i and gets it back with the
// command's exit code.
func testExecStdin(t *testing.T, k streamKubectl) {
	payload := randomText(t, 64<<10)
	cmd := k.command(testenv.Context(t), "exec", "-i", streamsPod, "-c", "main", "--", "sh", "-c", "cat; echo end-"+k.tag+"; exit 7")
	cmd.Stdin = strings.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("exec -i: %v, want exit status 7\n%s", err, stderr.String())
	}
	if want := payload + "end-" + k.tag + "\n"; string(out) != want {
		t.Fatalf("exec -i gave %d bytes, want the %d piped in and the end line", len(out), len(want))
	}
}

// testExecTTY runs exec -it with kubectl on a terminal: the remote command
// sees that terminal's size, and a new size after a resize.
func testExecTTY(t *testing.T, k streamKubectl) {
	ctx := testenv.Context(t)
	cmd := k.command(ctx, "exec", "-it", streamsPod, "-c", "main", "--", "sh", "-c", "stty size; while read l; do stty size; done")
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-waited })
	out := readChunks(ptmx)
	// Each line typed prints the remote terminal's size again; the size
	// travels beside the input, so type until the wanted one shows.
	sizeRE := regexp.MustCompile(`(\d+) (\d+)`)
	var seen strings.Builder
	waitSize := func(want string) {
		t.Helper()
		for {
			for _, m := range sizeRE.FindAllString(seen.String(), -1) {
				if m == want {
					seen.Reset()
					return
				}
			}
			select {
			case chunk, ok := <-out:
				if !ok {
					t.Fatalf("exec -it ended before the remote terminal was %s; output %q", want, seen.String())
				}
				seen.WriteString(chunk)
				if !sizeRE.MatchString(chunk) {
					continue
				}
				if _, err := ptmx.Write([]byte("\n")); err != nil {
					t.Fatal(err)
				}
			case <-ctx.Done():
				t.Fatalf("remote terminal never %s; output %q", want, seen.String())
			}
		}
	}
	waitSize("30 100")
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	if _, err := ptmx.Write([]byte("\n")); err != nil {
		t.Fatal(err)
	}
	waitSize("40 120")
	// ^D ends the remote read loop, and so the command and kubectl.
	if _, err := ptmx.Write([]byte{4}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for range out { // drain so kubectl never blocks on its terminal
		}
	}()
	select {
	case err := <-waited:
		waited <- err
		if err != nil {
			t.Fatalf("exec -it: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("exec -it did not end after ^D")
	}
}

// testAttach attaches to the main container's cat: a line sent comes back.
func testAttach(t *testing.T, k streamKubectl) {
	cmd := k.command(testenv.Context(t), "attach", "-i", streamsPod, "-c", "main")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	lines := startLines(t, cmd)
	line := "attach-" + k.tag
	if _, err := io.WriteString(stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
	lines.waitFor(t, line)
	// The stand-in detaches when the client's input ends.
	_ = stdin.Close()
	if err := lines.wait(); err != nil {
		t.Fatalf("attach after stdin closed: %v\n%s", err, lines.stderr.String())
	}
}

// testCp copies a file into the pod and back out, by checksum.
func testCp(t *testing.T, k streamKubectl) {
	local := t.TempDir()
	remote := t.TempDir() // the stand-in's containers share this machine's files
	in := filepath.Join(local, "in.bin")
	data := []byte(randomText(t, 1<<20))
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	k.run(t, nil, "cp", "-c", "main", in, streamsPod+":"+remote+"/copied.bin")
	if got, err := os.ReadFile(filepath.Join(remote, "copied.bin")); err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("file copied in: %d bytes, %v; want %d bytes, same checksum", len(got), err, len(data))
	}
	back := filepath.Join(local, "back.bin")
	k.run(t, nil, "cp", "-c", "main", streamsPod+":"+remote+"/copied.bin", back)
	if got, err := os.ReadFile(back); err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("file copied out: %d bytes, %v; want %d bytes, same checksum", len(got), err, len(data))
	}
}

// testPortForward forwards a local port to the pod's 8080 (the echo
// server) and round-trips bytes on two connections.
func testPortForward(t *testing.T, k streamKubectl) {
	cmd := k.command(testenv.Context(t), "port-forward", "--address=127.0.0.1", "pod/"+streamsPod, ":8080")
	lines := startLines(t, cmd)
	fwd := lines.waitFor(t, "Forwarding from 127.0.0.1:")
	m := regexp.MustCompile(`127\.0\.0\.1:(\d+) -> 8080`).FindStringSubmatch(fwd)
	if m == nil {
		t.Fatalf("port-forward said %q", fwd)
	}
	port, _ := strconv.Atoi(m[1])
	for i := range 2 {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		payload := []byte(randomText(t, 256<<10))
		go func() { _, _ = c.Write(payload) }()
		got := make([]byte, len(payload))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		_ = c.Close()
		if !bytes.Equal(got, payload) {
			t.Fatalf("connection %d: the echo differs from what was sent", i)
		}
	}
}

// testLogsFollow follows the logger container's log and sees a line logged
// after it started.
func testLogsFollow(t *testing.T, k streamKubectl) {
	cmd := k.command(testenv.Context(t), "logs", "-f", streamsPod, "-c", "logger")
	lines := startLines(t, cmd)
	lines.waitFor(t, "started")
	line := "logged-" + k.tag
	k.run(t, nil, "exec", streamsPod, "-c", "logger", "--", "sh", "-c", "echo "+line+" > in")
	lines.waitFor(t, line)
}

// testGetWatch watches a config map and sees another kubectl's update.
func testGetWatch(t *testing.T, k streamKubectl) {
	name := "watch-" + k.tag
	k.run(t, nil, "create", "configmap", name, "--from-literal=v=0")
	cmd := k.command(testenv.Context(t), "get", "configmap", name, "--watch", "-o", `jsonpath={.data.v}{"\n"}`)
	lines := startLines(t, cmd)
	lines.waitFor(t, "0")
	k.run(t, nil, "patch", "configmap", name, "-p", `{"data":{"v":"1"}}`)
	lines.waitFor(t, "1")
}

// lineProc is a running kubectl whose stdout is read line by line.
type lineProc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr testenv.Buffer
	done   chan error
}

// startLines starts cmd, reading its stdout as lines; the test's end kills it.
func startLines(t *testing.T, cmd *exec.Cmd) *lineProc {
	t.Helper()
	p := &lineProc{cmd: cmd, lines: make(chan string, 64), done: make(chan error, 1)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		for range p.lines {
		}
	})
	return p
}

// waitFor returns the first line that contains want, failing when the
// output ends first.
func (p *lineProc) waitFor(t *testing.T, want string) string {
	t.Helper()
	var seen []string
	for line := range p.lines {
		if strings.Contains(line, want) {
			return line
		}
		seen = append(seen, line)
	}
	t.Fatalf("%s ended before a line with %q: %v; output %q\n%s", filepath.Base(p.cmd.Path), want, <-p.done, seen, p.stderr.String())
	return ""
}

// wait returns the process's end, once its output is read.
func (p *lineProc) wait() error {
	for range p.lines {
	}
	err := <-p.done
	p.done <- err
	return err
}

// readChunks reads r in a goroutine and sends what it reads; the channel
// closes at r's end.
func readChunks(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				ch <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// startEchoServer listens on a loopback port and echoes every connection.
func startEchoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// randomText is n bytes of random hex and newlines, safe on any stream.
func randomText(t *testing.T, n int) string {
	t.Helper()
	raw := make([]byte, n/2)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 0, n+n/64)
	for i, c := range raw {
		b = fmt.Appendf(b, "%02x", c)
		if i%32 == 31 {
			b = append(b, '\n')
		}
	}
	return string(b)
}

// kubectlMinor is the minor version of a kubectl binary's client.
func kubectlMinor(tb testing.TB, bin string) int {
	tb.Helper()
	out, err := exec.Command(bin, "version", "--client", "-o", "json").Output()
	if err != nil {
		tb.Fatalf("%s version --client: %v", bin, err)
	}
	var v struct {
		ClientVersion struct{ Minor string } `json:"clientVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		tb.Fatalf("%s version: %v", bin, err)
	}
	minor, err := strconv.Atoi(strings.TrimRight(v.ClientVersion.Minor, "+"))
	if err != nil {
		tb.Fatalf("%s client minor %q: %v", bin, v.ClientVersion.Minor, err)
	}
	return minor
}
