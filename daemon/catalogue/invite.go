package catalogue

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/internal/wire"
)

// ErrBadInvite is wrapped by every error of ParseInvite.
var ErrBadInvite = errors.New("not an edge to join")

// maxInvite bounds an invitation's length.
const maxInvite = 2048

// Invite is what `airlock join` was given.
type Invite struct {
	// AuthURL is the edge's sign-in base URL, https://host[:port], no
	// trailing slash.
	AuthURL string
	// CAHash is the pinned CA's SPKI SHA-256 (32 bytes), nil for the
	// system roots.
	CAHash []byte
}

// Fingerprint renders h as an invitation does: "sha256:" + hex.
func Fingerprint(h []byte) string { return "sha256:" + hex.EncodeToString(h) }

// ParseFingerprint reads "sha256:HEX" (64 hex digits).
func ParseFingerprint(s string) ([]byte, error) {
	hexPart, ok := strings.CutPrefix(strings.TrimSpace(s), "sha256:")
	if !ok {
		return nil, fmt.Errorf("%w: the CA fingerprint %q must start with sha256:", ErrBadInvite, s)
	}
	h, err := hex.DecodeString(hexPart)
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("%w: the CA fingerprint must be sha256: and 64 hex digits", ErrBadInvite)
	}
	return h, nil
}

// ParseInvite reads an invitation: "edge.example.com" (port 7843),
// "https://edge.example.com:7843", or "airlock://join?edge=URL&ca=sha256:HEX".
// ca, when not empty, is the --ca flag; it must agree with a link's.
func ParseInvite(s, ca string) (Invite, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxInvite {
		return Invite{}, fmt.Errorf("%w: give the edge's address, https URL or invitation link", ErrBadInvite)
	}
	var inv Invite
	edge := s
	if strings.HasPrefix(strings.ToLower(s), "airlock:") {
		u, err := url.Parse(s)
		if err != nil || !strings.EqualFold(u.Scheme, "airlock") || !(u.Host == "join" || u.Opaque == "join" || strings.TrimPrefix(u.Opaque, "//") == "join") {
			return Invite{}, fmt.Errorf("%w: an invitation link is airlock://join?edge=…", ErrBadInvite)
		}
		q := u.Query()
		edge = q.Get("edge")
		if edge == "" {
			return Invite{}, fmt.Errorf("%w: the invitation link names no edge (edge=)", ErrBadInvite)
		}
		if c := q.Get("ca"); c != "" {
			h, err := ParseFingerprint(c)
			if err != nil {
				return Invite{}, err
			}
			inv.CAHash = h
		}
	}
	if ca != "" {
		h, err := ParseFingerprint(ca)
		if err != nil {
			return Invite{}, err
		}
		if inv.CAHash != nil && hex.EncodeToString(h) != hex.EncodeToString(inv.CAHash) {
			return Invite{}, fmt.Errorf("%w: --ca differs from the invitation link's ca", ErrBadInvite)
		}
		inv.CAHash = h
	}
	au, err := authURL(edge)
	if err != nil {
		return Invite{}, err
	}
	inv.AuthURL = au
	return inv, nil
}

// authURL turns a host name or URL into https://host:port.
func authURL(s string) (string, error) {
	bare := !strings.Contains(s, "://")
	if bare {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %q does not parse as a URL", ErrBadInvite, s)
	case u.Scheme != "https":
		return "", fmt.Errorf("%w: %q: the edge's sign-in URL must be https://", ErrBadInvite, s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%w: %q must be https://host[:port] with no user, query or fragment", ErrBadInvite, s)
	case u.Path != "" && u.Path != "/":
		return "", fmt.Errorf("%w: %q must be https://host[:port] with no path", ErrBadInvite, s)
	case u.Hostname() == "":
		return "", fmt.Errorf("%w: %q has no host", ErrBadInvite, s)
	}
	host := u.Hostname()
	if net.ParseIP(host) == nil {
		if err := wire.CheckHostname(host); err != nil {
			return "", fmt.Errorf("%w: host %q: %v", ErrBadInvite, host, err)
		}
	}
	switch port := u.Port(); {
	case port != "":
		return "https://" + net.JoinHostPort(host, port), nil
	case bare:
		return "https://" + net.JoinHostPort(host, config.DefaultAuthPort), nil
	default:
		return "https://" + u.Host, nil // https's own port
	}
}
