package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/airlockhq/airlock/edge"
	"github.com/airlockhq/airlock/edge/oauth"
)

func cmdUserAdd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("user add", stderr, "user add EMAIL [--group G ...] [--password-stdin]")
	var (
		loc      location
		groups   stringList
		fromPipe = fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	)
	loc.register(fs)
	fs.Var(&groups, "group", "`group` of the user (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("user add: give exactly one EMAIL")
	}
	if err := oauth.CheckEmail(pos[0]); err != nil {
		return usagef("user add: %v", err)
	}
	pw, err := readPassword(stdin, stderr, *fromPipe)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	hash, err := oauth.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	added, err := edge.SetUser(loc.path(), oauth.User{Email: pos[0], PasswordHash: hash, Groups: groups})
	if err != nil {
		return err
	}
	verb := "updated"
	if added {
		verb = "added"
	}
	fmt.Fprintf(stdout, "%s user %s in %s (a running edge reloads it)\n", verb, strings.ToLower(pos[0]), loc.path())
	return nil
}

// readPassword reads the first line of stdin (--password-stdin), or asks
// twice on the terminal without echo.
func readPassword(stdin io.Reader, stderr io.Writer, fromPipe bool) (string, error) {
	if fromPipe {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return "", errors.New("no password on stdin")
		}
		return line, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("stdin is not a terminal: pass --password-stdin and pipe the password")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	a, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	b, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if a != b {
		return "", errors.New("the passwords differ")
	}
	return a, nil
}

func cmdUserRemove(args []string, stdout, stderr io.Writer) error {
	path, email, err := parseEmailCommand("user remove", args, stderr)
	if err != nil {
		return err
	}
	if err := edge.RemoveUser(path, email); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed user %s; their next connection is refused, also with the service tokens minted for them\n", strings.ToLower(email))
	return nil
}

func cmdUserRevoke(args []string, stdout, stderr io.Writer) error {
	path, email, err := parseEmailCommand("user revoke", args, stderr)
	if err != nil {
		return err
	}
	if err := edge.RevokeUser(path, email, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked every sign-in and service token of %s so far: their refresh tokens stop working and their access and service tokens are refused on the next connection (they may sign in again)\n", strings.ToLower(email))
	return nil
}

// parseEmailCommand parses the arguments of a command that takes the
// --dir/--config pair and exactly one EMAIL, and returns the config path
// and the email.
func parseEmailCommand(name string, args []string, stderr io.Writer) (path, email string, err error) {
	path, pos, err := parseLocated(name, "EMAIL", args, stderr)
	if err != nil {
		return "", "", err
	}
	return path, pos[0], nil
}

// parseLocated parses the arguments of a command that takes the
// --dir/--config pair and exactly one positional argument, named what
// in its usage ("" for none), and returns the config path and the
// positional arguments.
func parseLocated(name, what string, args []string, stderr io.Writer) (string, []string, error) {
	synopsis := strings.TrimSpace(name + " " + what)
	fs := newFlagSet(name, stderr, synopsis)
	var loc location
	loc.register(fs)
	pos, err := parse(fs, args)
	switch {
	case err != nil:
		return "", nil, err
	case what == "" && len(pos) > 0:
		return "", nil, usagef("%s: unexpected argument %q", name, pos[0])
	case what != "" && len(pos) != 1:
		return "", nil, usagef("%s: give exactly one %s", name, what)
	}
	return loc.path(), pos, nil
}

func cmdKeyRotate(args []string, stdout, stderr io.Writer) error {
	path, _, err := parseLocated("key rotate", "", args, stderr)
	if err != nil {
		return err
	}
	kid, err := edge.RotateKey(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "new signing key %s signs from the next reload; the old keys still verify. Remove an old key from tokens.signing_keys once its tokens have expired (access_ttl, or the service tokens' ttl).\n", kid)
	return nil
}
