package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/airlockhq/airlock/internal/testenv"
)

// Superuser is the cluster's superuser, the user of [Cluster.DSN].
const Superuser = "postgres"

// Cluster is a running PostgreSQL cluster of one test.
type Cluster struct {
	// DSN is a postgres:// URL of the database "postgres" as the
	// superuser, with its password, over TCP on loopback.
	DSN string
	// Addr is the server's 127.0.0.1:PORT.
	Addr string
	// Dir holds the data folder (Dir/data), the unix socket and the log.
	Dir string
	// LogFile is initdb's and the server's output.
	LogFile string
	// Password is the superuser's password.
	Password string

	bin    string
	runAs  *account
	port   int
	dbs    atomic.Int64
	mu     sync.Mutex // guards cmd and exited
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// Start runs a new cluster for tb and stops and removes it in tb.Cleanup.
// ctx bounds initdb and the start, not the cluster's life. When
// PostgreSQL or a user to run it as is missing, Start skips tb, or fails
// it when CI=true.
func Start(ctx context.Context, tb testing.TB) *Cluster {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		testenv.Missing(tb, "pgtest: PostgreSQL's initdb and postgres (apt-get install postgresql): %v", err)
	}
	runAs, err := lookupAccount()
	if err != nil {
		testenv.Missing(tb, "pgtest: %v", err)
	}
	c, err := start(ctx, bin, runAs)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("pgtest: PostgreSQL log tail (%s):\n%s", c.LogFile, c.LogTail(3000))
		}
		if err := c.Close(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// binDir finds the folder of initdb and postgres.
func binDir() (string, error) {
	if d := os.Getenv("AIRLOCK_PG_BIN"); d != "" {
		return d, hasPrograms(d)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestVersion := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil && v > bestVersion && hasPrograms(d) == nil {
			best, bestVersion = d, v
		}
	}
	if best != "" {
		return best, nil
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", errors.New("no /usr/lib/postgresql/*/bin and no initdb on PATH ($AIRLOCK_PG_BIN names the folder)")
	}
	return filepath.Dir(p), hasPrograms(filepath.Dir(p))
}

func hasPrograms(dir string) error {
	for _, p := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return err
		}
	}
	return nil
}

// start makes the folder, runs initdb and starts the server.
func start(ctx context.Context, bin string, runAs *account) (_ *Cluster, err error) {
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if err := runAs.own(dir); err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, LogFile: filepath.Join(dir, "postgres.log"), Password: rand.Text(), bin: bin, runAs: runAs}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(c.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := runAs.own(pwfile); err != nil {
		return nil, err
	}
	err = c.run(ctx, "initdb", "-D", c.dataDir(), "-U", Superuser, "--pwfile="+pwfile,
		"--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(pwfile); err != nil {
		return nil, err
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
		c.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port))
		c.DSN = (&url.URL{Scheme: "postgres", User: url.UserPassword(Superuser, c.Password), Host: c.Addr,
			Path: "/postgres", RawQuery: "sslmode=disable"}).String()
		err = c.serve(ctx)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, errExited) || attempt == attempts || !strings.Contains(c.LogTail(4000), "could not bind") {
			return nil, fmt.Errorf("%w\n%s", err, c.LogTail(3000))
		}
	}
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

// run runs one of the programs to its end as the cluster's user.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) error {
	logf, err := os.OpenFile(c.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, prog), args...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, c.Dir
	cmd.SysProcAttr = c.runAs.sysProcAttr()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", prog, err, c.LogTail(3000))
	}
	return nil
}

// errExited reports that the server ended before it was ready.
var errExited = errors.New("postgres exited before it was ready")

// serve starts the server on c.port and waits until it takes
// connections.
func (c *Cluster) serve(ctx context.Context) error {
	logf, err := os.OpenFile(c.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.dataDir(), "-p", strconv.Itoa(c.port), "-k", c.Dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, c.Dir
	cmd.SysProcAttr = c.runAs.sysProcAttr()
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.mu.Lock()
	c.cmd, c.exited = cmd, exited
	c.mu.Unlock()
	err = testenv.Poll(ctx, 20*time.Millisecond, func() error {
		select {
		case <-exited:
			return testenv.Stop(errExited)
		default:
		}
		return c.ping(ctx)
	})
	if err != nil {
		_ = c.Stop(context.Background())
		return fmt.Errorf("postgres on %s: %w", c.Addr, err)
	}
	return nil
}

func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Stop shuts the server down (fast shutdown: open sessions end) and
// waits for it to exit; [Cluster.Restart] starts it again. Stopping a
// stopped server does nothing.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = interrupt(cmd.Process)
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("postgres did not shut down: %w", context.Cause(ctx))
	}
}

// Restart stops the server if it runs and starts it again on the same
// port with the same data: what clients see when the database restarts.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.Stop(ctx); err != nil {
		return err
	}
	if err := c.serve(ctx); err != nil {
		return fmt.Errorf("restart: %w\n%s", err, c.LogTail(3000))
	}
	return nil
}

// Close stops the server and removes its folder.
func (c *Cluster) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Stop(ctx)
	return errors.Join(err, os.RemoveAll(c.Dir))
}

// NewDatabase creates an empty database for tb and returns its DSN (the
// superuser's, like [Cluster.DSN]): one cluster serves many test cases
// that must not see each other's rows.
func (c *Cluster) NewDatabase(ctx context.Context, tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d", c.dbs.Add(1))
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	u, err := url.Parse(c.DSN)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// LogTail returns the last n bytes of the log.
func (c *Cluster) LogTail(n int) string {
	b, err := os.ReadFile(c.LogFile)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}
