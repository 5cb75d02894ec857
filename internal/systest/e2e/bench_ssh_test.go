package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/airlockhq/airlock/internal/systest/e2e/internal/benchnet"
)

const (
	sshdBin   = "/usr/sbin/sshd" // sshd re-executes itself: it needs an absolute path
	sshBin    = "ssh"
	keygenBin = "ssh-keygen"
	// sshGCM is the cipher engineers pick for speed; the default on Debian 12
	// is chacha20-poly1305@openssh.com.
	sshGCM = "aes128-gcm@openssh.com"
)

// sshTarget is a running sshd on loopback with a throw-away host key and a
// throw-away client key in its authorized_keys.
type sshTarget struct {
	addr    string // sshd's host:port
	user    string
	keyFile string // the client's private key
	dir     string
}

// startSSHD runs Debian's OpenSSH server on 127.0.0.1 with a config of its
// own, or returns an error saying what is missing.
func startSSHD(tb testing.TB, dir string) (*sshTarget, error) {
	tb.Helper()
	for _, bin := range []string{sshdBin, sshBin, keygenBin} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("ssh -D: %s not found (apt-get install openssh-server openssh-client): %w", bin, err)
		}
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("ssh -D: who am I: %w", err)
	}
	if os.Geteuid() == 0 {
		// Privilege separation needs this empty root-owned folder; Debian's
		// init script makes it, and we start sshd ourselves.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, fmt.Errorf("ssh -D: create sshd's privilege separation folder: %w", err)
		}
	} else if _, err := os.Stat("/run/sshd"); err != nil {
		return nil, fmt.Errorf("ssh -D: sshd needs /run/sshd, which a non-root user cannot create: %w", err)
	}
	dir = filepath.Join(dir, "ssh")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	t := &sshTarget{user: u.Username, keyFile: filepath.Join(dir, "id_ed25519"), dir: dir}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	for _, k := range []string{hostKey, t.keyFile} {
		if out, err := exec.Command(keygenBin, "-q", "-t", "ed25519", "-N", "", "-C", "airlock-bench", "-f", k).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ssh -D: ssh-keygen: %w\n%s", err, out)
		}
	}
	pub, err := os.ReadFile(t.keyFile + ".pub")
	if err != nil {
		return nil, err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t.addr = net.JoinHostPort("127.0.0.1", port)
	config := filepath.Join(dir, "sshd_config")
	conf := strings.Join([]string{
		"ListenAddress " + t.addr,
		"HostKey " + hostKey,
		"AuthorizedKeysFile " + authorized,
		"PidFile none",
		"AuthenticationMethods publickey",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"AllowTcpForwarding yes",
		"UsePAM no",
		"StrictModes no",
		"X11Forwarding no",
		"PrintMotd no",
		"MaxStartups 100:30:200",
		"LogLevel ERROR",
		"",
	}, "\n")
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	p := startBenchProc(tb, "sshd", nil, false, sshdBin, "-D", "-e", "-f", config)
	err = p.waitReady(tb, "sshd", func() error {
		c, err := net.DialTimeout("tcp", t.addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		banner, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return fmt.Errorf("read the banner: %w", err)
		}
		if !strings.HasPrefix(banner, "SSH-2.0-") {
			return fmt.Errorf("%s is not sshd: banner %q", t.addr, banner)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// sshSOCKS is a running `ssh -N -D` client: its SOCKS5 address and the
// cipher it negotiated.
type sshSOCKS struct {
	addr   string
	cipher string
}

var kexCipher = regexp.MustCompile(`kex: server->client cipher: (\S+)`)

// startSSHSOCKS runs `ssh -N -D` to t, with cipher if not empty, as people
// run it (no tty: sshd leaves Nagle on for such channels), and waits until a
// connection through it reaches origin and echoes a byte.
func startSSHSOCKS(tb testing.TB, t *sshTarget, origin, cipher string) (*sshSOCKS, error) {
	tb.Helper()
	return startSSHSOCKSCheck(tb, t, origin, cipher, benchnet.Echo)
}

// startSSHSOCKSCheck is startSSHSOCKS with the readiness check to run on a
// connection through the proxy to origin (an origin that does not echo,
// like a kube-apiserver, needs another).
func startSSHSOCKSCheck(tb testing.TB, t *sshTarget, origin, cipher string, check func(context.Context, net.Conn) error) (*sshSOCKS, error) {
	tb.Helper()
	return startSSHSOCKSVia(tb, t, nil, origin, cipher, check)
}

// sshRoute is where an `ssh -N -D` client runs and how it and its users
// reach things: Prefix is a command it runs under (ip netns exec NAME),
// Host:Port is sshd as seen from there, and Dial makes a connection
// through the client's SOCKS5 listener from there.
type sshRoute struct {
	Prefix     []string
	Host, Port string
	Dial       func(ctx context.Context, socks, target string) (net.Conn, error)
}

// startSSHSOCKSVia is startSSHSOCKSCheck with the client on route (nil:
// this machine's loopback).
func startSSHSOCKSVia(tb testing.TB, t *sshTarget, route *sshRoute, origin, cipher string, check func(context.Context, net.Conn) error) (*sshSOCKS, error) {
	tb.Helper()
	_, sshdPort, _ := net.SplitHostPort(t.addr)
	if route == nil {
		route = &sshRoute{Host: "127.0.0.1", Port: sshdPort, Dial: func(ctx context.Context, socks, target string) (net.Conn, error) {
			return benchnet.DialSOCKS5(ctx, socks, "", "", target)
		}}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &sshSOCKS{addr: net.JoinHostPort("127.0.0.1", port)}
	args := []string{
		"-N", "-D", s.addr, "-p", route.Port, "-i", t.keyFile, "-F", "/dev/null",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ExitOnForwardFailure=yes",
		"-v", // for the negotiated cipher
	}
	if cipher != "" {
		args = append(args, "-c", cipher)
	}
	args = append(args, t.user+"@"+route.Host)
	name := "ssh -N -D"
	if cipher != "" {
		name += " -c " + cipher
	}
	argv := append(append(append([]string{}, route.Prefix...), sshBin), args...)
	p := startBenchProc(tb, name, nil, false, argv[0], argv[1:]...)
	err = p.waitReady(tb, name, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := route.Dial(ctx, s.addr, origin)
		if err != nil {
			return err
		}
		defer c.Close()
		return check(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	m := kexCipher.FindStringSubmatch(p.out.String())
	if m == nil {
		return nil, errors.New(name + ": no negotiated cipher in its -v output")
	}
	s.cipher = m[1]
	if cipher != "" && s.cipher != cipher {
		return nil, fmt.Errorf("%s negotiated %s", name, s.cipher)
	}
	return s, nil
}

// freePort returns a loopback TCP port that was free a moment ago, for
// programs that cannot listen on port 0 and report the port they got.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	return port, err
}
