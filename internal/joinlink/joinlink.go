// Package joinlink is the invitation to join an edge: the airlock:// link
// an operator puts on a wiki page and `airlock-edge invite` prints, the
// forms `airlock join` takes on its command line, and the fingerprint of
// the edge's CA that an invitation may carry (as kubeadm's
// --discovery-token-ca-cert-hash: the SHA-256 of the CA certificate's
// SubjectPublicKeyInfo). The link is untrusted input (any web page can
// open it): parsing is strict and bounded.
package joinlink

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Limits and defaults.
const (
	// MaxLen bounds a link or a command-line argument.
	MaxLen = 2048
	// DefaultPort is the port of an edge's sign-in server when the
	// argument names a host alone (the edge's DefaultHTTPPort).
	DefaultPort = "7843"
	// Scheme is the URL scheme of invitation links.
	Scheme = "airlock"
	// fingerprintPrefix starts every fingerprint.
	fingerprintPrefix = "sha256:"
)

// Invite is what an invitation names.
type Invite struct {
	// Edge is the base URL of the edge's sign-in server,
	// https://HOST[:PORT] with no path, query or fragment.
	Edge string
	// CA is the fingerprint of the CA that signed the edge's certificate,
	// "sha256:" and 64 lower-case hex digits; empty: trust the system's
	// roots.
	CA string
}

// ErrInvalid is wrapped by every refusal of [Parse] and [ParseLink].
var ErrInvalid = errors.New("invalid invitation")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ParseLink parses an airlock://join?edge=URL[&ca=sha256:HEX] link: the
// scheme and host exactly so, no path, user or fragment, only the edge and
// ca parameters, each once, edge an https:// base URL.
func ParseLink(s string) (Invite, error) {
	if len(s) > MaxLen {
		return Invite{}, invalid("the link is %d bytes, limit %d", len(s), MaxLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Invite{}, invalid("not a URL")
	}
	switch {
	case u.Scheme != Scheme:
		return Invite{}, invalid("the link does not start with %s://join?", Scheme)
	case u.Opaque != "" || u.Host != "join" || u.User != nil:
		return Invite{}, invalid("the link does not start with %s://join?", Scheme)
	case u.Path != "" && u.Path != "/":
		return Invite{}, invalid("the link has a path %q", u.Path)
	case u.Fragment != "" || strings.Contains(s, "#"):
		return Invite{}, invalid("the link has a fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Invite{}, invalid("the link's parameters do not parse")
	}
	var inv Invite
	for k, vs := range q {
		if len(vs) != 1 {
			return Invite{}, invalid("parameter %s appears %d times", quote(k), len(vs))
		}
		switch k {
		case "edge":
			if inv.Edge, err = ParseEdgeURL(vs[0]); err != nil {
				return Invite{}, err
			}
		case "ca":
			if err := CheckFingerprint(vs[0]); err != nil {
				return Invite{}, err
			}
			inv.CA = vs[0]
		default:
			return Invite{}, invalid("unknown parameter %s (only edge and ca)", quote(k))
		}
	}
	if inv.Edge == "" {
		return Invite{}, invalid("the link names no edge (edge=https://...)")
	}
	return inv, nil
}

// Parse parses what `airlock join` takes: an airlock://join? link, an
// https:// base URL, or HOST[:PORT] (port DefaultPort by default). A link
// carries its own CA fingerprint; for the other forms the caller adds one
// (--ca).
func Parse(s string) (Invite, error) {
	if len(s) > MaxLen {
		return Invite{}, invalid("%d bytes, limit %d", len(s), MaxLen)
	}
	switch {
	case strings.HasPrefix(strings.ToLower(s), Scheme+":"):
		return ParseLink(s)
	case strings.Contains(s, "://"):
		e, err := ParseEdgeURL(s)
		return Invite{Edge: e}, err
	}
	host, port := s, DefaultPort
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	e, err := ParseEdgeURL("https://" + net.JoinHostPort(host, port))
	return Invite{Edge: e}, err
}

// ParseEdgeURL checks an edge's sign-in base URL: https, a host, an
// optional port, nothing else (a trailing slash is dropped). It returns
// the URL as scheme://host[:port], the host lower-cased.
func ParseEdgeURL(s string) (string, error) {
	if len(s) > MaxLen {
		return "", invalid("the edge URL is %d bytes, limit %d", len(s), MaxLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", invalid("the edge URL %s does not parse", quote(s))
	}
	switch {
	case u.Scheme != "https":
		return "", invalid("the edge URL %s is not https://", quote(s))
	case u.Opaque != "" || u.User != nil || u.Host == "" || u.Hostname() == "":
		return "", invalid("the edge URL %s is not https://HOST[:PORT]", quote(s))
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "", invalid("the edge URL %s has a path, query or fragment: give https://HOST[:PORT]", quote(s))
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) == nil && !dnsName(host) {
		return "", invalid("the edge URL %s: the host is neither a DNS name nor an IP address", quote(s))
	}
	if p := u.Port(); p != "" {
		if !allDigits(p) || len(p) > 5 {
			return "", invalid("the edge URL %s has a bad port", quote(s))
		}
		return "https://" + net.JoinHostPort(host, p), nil
	}
	if strings.Contains(host, ":") { // an IPv6 literal
		return "https://[" + host + "]", nil
	}
	return "https://" + host, nil
}

// CheckFingerprint checks the form "sha256:" and 64 lower-case hex digits.
func CheckFingerprint(s string) error {
	h, ok := strings.CutPrefix(s, fingerprintPrefix)
	if !ok || len(h) != 2*sha256.Size {
		return invalid("the CA fingerprint %s is not sha256: and 64 hex digits", quote(s))
	}
	for _, c := range h {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return invalid("the CA fingerprint %s is not sha256: and 64 lower-case hex digits", quote(s))
		}
	}
	return nil
}

// Fingerprint is cert's fingerprint: "sha256:" and the hex SHA-256 of its
// SubjectPublicKeyInfo (DER), as kubeadm computes a CA's.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return fingerprintPrefix + hex.EncodeToString(sum[:])
}

// FingerprintPEM is the fingerprint of the first certificate in pemBytes.
func FingerprintPEM(pemBytes []byte) (string, error) {
	for rest := pemBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return "", errors.New("no CERTIFICATE in the PEM")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return "", fmt.Errorf("the CA certificate: %w", err)
		}
		return Fingerprint(cert), nil
	}
}

// MatchPEM reports whether a certificate in pemBytes has fingerprint fp:
// what a joining daemon checks of the CA an edge serves.
func MatchPEM(pemBytes []byte, fp string) bool {
	for rest := pemBytes; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return false
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if cert, err := x509.ParseCertificate(b.Bytes); err == nil && Fingerprint(cert) == fp {
			return true
		}
	}
}

// Link is the airlock:// link of inv.
func (inv Invite) Link() string {
	q := "edge=" + url.QueryEscape(inv.Edge)
	if inv.CA != "" {
		q += "&ca=" + url.QueryEscape(inv.CA)
	}
	return Scheme + "://join?" + q
}

// Command is the `airlock join` command line of inv.
func (inv Invite) Command() string {
	c := "airlock join " + inv.Edge
	if inv.CA != "" {
		c += " --ca " + inv.CA
	}
	return c
}

// dnsName reports whether s holds only a-z, 0-9, '-' and '.', in labels
// of 1 to 63, at most 253 in all: nothing a shell or a page could read as
// more than a name.
func dnsName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// quote quotes s for an error message, cut to 100 bytes.
func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return fmt.Sprintf("%q", s)
}
