package dist

import (
	"context"
	"errors"
	"fmt"
	"github.com/airlockhq/airlock/internal/atomicfile"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// SignOptions say how to sign airlock.exe (Authenticode, with
// osslsigncode): a PKCS#12 file, or a certificate (chain) and its private
// key, PEM or DER.
type SignOptions struct {
	PKCS12   string // .p12 / .pfx file
	Cert     string // certificate file (with its chain), when PKCS12 is ""
	Key      string // private key file, when PKCS12 is ""
	Password string // of PKCS12 or Key; "" for none. Passed in a 0600 file, never on a command line
	// TimestampURL is an RFC 3161 time-stamping server; "" means no
	// timestamp (the signature then expires with the certificate).
	TimestampURL string
	// Tool is the osslsigncode command; "" means "osslsigncode" from PATH.
	Tool string
}

// SignOptionsFromEnv reads the signing settings of `make dist`:
// AIRLOCK_SIGN_PKCS12, or AIRLOCK_SIGN_CERT and AIRLOCK_SIGN_KEY; and
// AIRLOCK_SIGN_PASSWORD and AIRLOCK_SIGN_TIMESTAMP_URL. It returns nil
// when none of the files is set.
func SignOptionsFromEnv(getenv func(string) string) (*SignOptions, error) {
	s := &SignOptions{
		PKCS12:       getenv("AIRLOCK_SIGN_PKCS12"),
		Cert:         getenv("AIRLOCK_SIGN_CERT"),
		Key:          getenv("AIRLOCK_SIGN_KEY"),
		Password:     getenv("AIRLOCK_SIGN_PASSWORD"),
		TimestampURL: getenv("AIRLOCK_SIGN_TIMESTAMP_URL"),
	}
	if s.PKCS12 == "" && s.Cert == "" && s.Key == "" {
		return nil, nil
	}
	return s, s.check()
}

func (s *SignOptions) check() error {
	switch {
	case s.PKCS12 != "" && (s.Cert != "" || s.Key != ""):
		return errors.New("sign: give a PKCS#12 file or a certificate and key, not both")
	case s.PKCS12 == "" && (s.Cert == "" || s.Key == ""):
		return errors.New("sign: a certificate needs its key (and a key its certificate)")
	}
	for _, f := range []string{s.PKCS12, s.Cert, s.Key} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("sign: %w", err)
		}
	}
	return nil
}

// sign signs exe in place (SHA-256 Authenticode).
func (s *SignOptions) sign(ctx context.Context, exe string) error {
	if err := s.check(); err != nil {
		return err
	}
	tool := s.Tool
	if tool == "" {
		tool = "osslsigncode"
	}
	tmp, err := os.MkdirTemp("", "airlock-sign-")
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	defer os.RemoveAll(tmp)
	signed := filepath.Join(tmp, filepath.Base(exe))
	args := []string{"sign", "-h", "sha256", "-n", "Airlock", "-i", "https://github.com/airlockhq/airlock"}
	if s.PKCS12 != "" {
		args = append(args, "-pkcs12", s.PKCS12)
	} else {
		args = append(args, "-certs", s.Cert, "-key", s.Key)
	}
	if s.Password != "" {
		pw := filepath.Join(tmp, "password")
		if err := os.WriteFile(pw, []byte(s.Password), 0o600); err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		args = append(args, "-readpass", pw)
	}
	if s.TimestampURL != "" {
		args = append(args, "-ts", s.TimestampURL)
	}
	args = append(args, "-in", exe, "-out", signed)
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sign %s: %s: %w\n%s", filepath.Base(exe), tool, err, strings.TrimSpace(string(out)))
	}
	b, err := os.ReadFile(signed)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	return atomicfile.Write(exe, b, 0o755)
}
