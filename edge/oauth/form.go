package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/airlockhq/airlock/internal/wire"
)

// Limits on what clients send.
const (
	maxFormBytes   = 16 << 10
	maxAudiences   = 64
	maxParamLen    = 2048
	userCodeLetter = "BCDFGHJKLMNPQRSTVWXZ" // RFC 8628 §6.1: no vowels, no look-alikes
	userCodeLen    = 8
)

// protoError is an OAuth error response (RFC 6749 §5.2): Code is the
// "error", Desc the "error_description" naming the cause.
type protoError struct {
	Status int
	Code   string
	Desc   string
}

func (e *protoError) Error() string { return e.Code + ": " + e.Desc }

func errInvalidRequest(format string, args ...any) *protoError {
	return &protoError{http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...)}
}

func errInvalidGrant(format string, args ...any) *protoError {
	return &protoError{http.StatusBadRequest, "invalid_grant", fmt.Sprintf(format, args...)}
}

// parseForm reads an application/x-www-form-urlencoded body (at most
// maxFormBytes) and the query, and refuses repeated single-valued
// parameters and over-long values. It is the one decoder of client
// bodies.
func parseForm(r *http.Request) (url.Values, *protoError) {
	if r.Method == http.MethodPost {
		ct := r.Header.Get("Content-Type")
		if i := strings.IndexByte(ct, ';'); i >= 0 {
			ct = ct[:i]
		}
		if strings.TrimSpace(strings.ToLower(ct)) != "application/x-www-form-urlencoded" {
			return nil, errInvalidRequest("the body must be application/x-www-form-urlencoded, not %q", ct)
		}
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errInvalidRequest("the body is larger than %d bytes", maxFormBytes)
		}
		return nil, errInvalidRequest("the form does not parse: %v", err)
	}
	return checkValues(r.Form)
}

// parseFormBytes is parseForm's check on raw bytes (the fuzz target).
func parseFormBytes(b []byte) (url.Values, *protoError) {
	if len(b) > maxFormBytes {
		return nil, errInvalidRequest("the body is larger than %d bytes", maxFormBytes)
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, errInvalidRequest("the form does not parse: %v", err)
	}
	return checkValues(v)
}

func checkValues(v url.Values) (url.Values, *protoError) {
	for k, vs := range v {
		if k != "audience" && len(vs) > 1 {
			return nil, errInvalidRequest("parameter %q appears %d times", k, len(vs))
		}
		for _, x := range vs {
			if len(x) > maxParamLen {
				return nil, errInvalidRequest("parameter %q is longer than %d bytes", k, maxParamLen)
			}
		}
	}
	return v, nil
}

// parseAudience returns the app hostnames named by the "audience"
// parameters (repeatable, each possibly space separated), lower case,
// deduplicated. An entry that is not a hostname is an error.
func parseAudience(v url.Values) ([]string, *protoError) {
	var out []string
	seen := map[string]bool{}
	for _, a := range v["audience"] {
		for _, h := range strings.Fields(a) {
			if err := wire.CheckHostname(h); err != nil {
				return nil, &protoError{http.StatusBadRequest, "invalid_target", fmt.Sprintf("audience %q: %v", h, err)}
			}
			h = strings.ToLower(h)
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	if len(out) > maxAudiences {
		return nil, &protoError{http.StatusBadRequest, "invalid_target", fmt.Sprintf("%d audiences; at most %d", len(out), maxAudiences)}
	}
	return out, nil
}

// checkRedirectURI accepts only loopback redirect URIs of native apps
// (RFC 8252 §7.3): http://127.0.0.1:PORT/… or http://[::1]:PORT/… with
// an explicit port, no user info and no fragment.
func checkRedirectURI(s string) error {
	if s == "" {
		return errors.New("redirect_uri is missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("redirect_uri %q does not parse", s)
	}
	switch {
	case u.Scheme != "http":
		return fmt.Errorf("redirect_uri %q: only http://127.0.0.1:PORT/… or http://[::1]:PORT/… (loopback) is allowed", s)
	case u.User != nil:
		return fmt.Errorf("redirect_uri %q carries user info", s)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("redirect_uri %q carries a fragment", s)
	case u.Opaque != "":
		return fmt.Errorf("redirect_uri %q is not a hierarchical URL", s)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || port == "" {
		return fmt.Errorf("redirect_uri %q has no port: the daemon listens on a loopback port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("redirect_uri %q: port %q is not a port number", s, port)
	}
	if host != "127.0.0.1" && host != "::1" {
		return fmt.Errorf("redirect_uri %q: host %q is not a loopback address (127.0.0.1 or [::1])", s, host)
	}
	return nil
}

// checkChallenge accepts a PKCE S256 challenge: 43 base64url characters
// (the SHA-256 of the verifier).
func checkChallenge(challenge, method string) error {
	switch method {
	case "S256":
	case "", "plain":
		return fmt.Errorf("code_challenge_method %q is refused: only S256", method)
	default:
		return fmt.Errorf("code_challenge_method %q is unknown: only S256", method)
	}
	if challenge == "" {
		return errors.New("code_challenge is missing: PKCE S256 is required")
	}
	if b, err := base64.RawURLEncoding.DecodeString(challenge); err != nil || len(b) != sha256.Size {
		return errors.New("code_challenge is not a base64url SHA-256 (43 characters)")
	}
	return nil
}

// verifierMatches checks a PKCE code_verifier against an S256 challenge.
func verifierMatches(verifier, challenge string) error {
	if n := len(verifier); n < 43 || n > 128 {
		return fmt.Errorf("code_verifier is %d characters; RFC 7636 wants 43 to 128", n)
	}
	for _, c := range verifier {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return errors.New("code_verifier holds a character outside A-Z a-z 0-9 - . _ ~")
		}
	}
	if !oidc.VerifyCodeChallenge(&oidc.CodeChallenge{Challenge: challenge, Method: oidc.CodeChallengeMethodS256}, verifier) {
		return errors.New("code_verifier does not match the code_challenge (PKCE)")
	}
	return nil
}

// normalizeUserCode turns what a person typed into the stored form: the
// letters of userCodeLetter, upper case, without dashes or spaces.
func normalizeUserCode(s string) (string, error) {
	var b strings.Builder
	for _, c := range strings.ToUpper(s) {
		switch {
		case c == '-' || c == ' ':
		case strings.ContainsRune(userCodeLetter, c):
			b.WriteRune(c)
		default:
			return "", fmt.Errorf("the code holds %q; codes use only the letters %s", c, userCodeLetter)
		}
	}
	if b.Len() != userCodeLen {
		return "", fmt.Errorf("the code has %d letters; it has %d", b.Len(), userCodeLen)
	}
	return b.String(), nil
}

// formatUserCode shows a user code as XXXX-XXXX.
func formatUserCode(c string) string {
	if len(c) != userCodeLen {
		return c
	}
	return c[:4] + "-" + c[4:]
}

// newUserCode is a fresh user code in the stored form (zitadel/oidc's
// generator: uniform over userCodeLetter).
func newUserCode() (string, error) {
	c, err := op.NewUserCode([]rune(userCodeLetter), userCodeLen, 0)
	if err != nil {
		return "", fmt.Errorf("new user code: %w", err)
	}
	return c, nil
}

// newSecret returns 32 random bytes, base64url, after prefix.
func newSecret(prefix string) string {
	var b [32]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read does not fail
	return prefix + b64(b[:])
}

// key is what a store keeps of a secret: its SHA-256, hex.
func key(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
