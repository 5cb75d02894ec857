package postgres

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// maxURLFile bounds a URL file.
const maxURLFile = 4 << 10

// ReadURLFile reads the database URL from the credentials file path: its
// one line, which may hold the password. A bare name (no slash) is looked
// up in $CREDENTIALS_DIRECTORY, where systemd's LoadCredential= puts it.
// A file that others than its owner (and group) may read is refused.
func ReadURLFile(path string) (string, error) {
	if !strings.ContainsRune(path, '/') {
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return "", fmt.Errorf("store URL file %q: a bare name is looked up in $CREDENTIALS_DIRECTORY, which is not set", path)
		}
		path = filepath.Join(dir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("store URL file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("store URL file: %w", err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return "", fmt.Errorf("store URL file %s: mode %s lets every user read it (chmod 0600 or 0640)", path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxURLFile+1))
	if err != nil {
		return "", fmt.Errorf("store URL file %s: %w", path, err)
	}
	if len(b) > maxURLFile {
		return "", fmt.Errorf("store URL file %s: longer than %d bytes", path, maxURLFile)
	}
	s := strings.TrimSpace(string(b))
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("store URL file %s: want one line, the database URL", path)
	}
	if _, err := pgconn.ParseConfig(s); err != nil {
		return "", fmt.Errorf("store URL file %s: not a database URL", path) // the error may quote the password
	}
	return s, nil
}

// ErrPasswordInURL: a database URL given on a command line (where every
// local user sees it in ps) holds a password.
var ErrPasswordInURL = errors.New("the store URL holds a password: put it in a credentials file (--store-url-file), or the password in ~/.pgpass or $PGPASSFILE")

// CheckCommandLineURL accepts a database URL given on a command line only
// without a password (pgx then reads it from $PGPASSFILE or ~/.pgpass).
func CheckCommandLineURL(s string) error {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		if _, set := u.User.Password(); set || u.Query().Has("password") {
			return ErrPasswordInURL
		}
		return nil
	}
	// A libpq key=value string.
	for _, field := range strings.Fields(s) {
		if k, _, ok := strings.Cut(field, "="); ok && strings.TrimSpace(k) == "password" {
			return ErrPasswordInURL
		}
	}
	if strings.Contains(s, "password") {
		return ErrPasswordInURL
	}
	return nil
}
