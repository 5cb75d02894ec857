package wire

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Role says what kind of peer dialled the edge.
type Role uint8

// Roles.
const (
	RoleClient    Role = 1 // an end user's daemon: opens streams
	RoleConnector Role = 2 // a connector next to a cluster: accepts streams
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleConnector:
		return "connector"
	}
	return fmt.Sprintf("role %d", uint8(r))
}

// Hello is the first frame on the control stream, sent by the dialler.
type Hello struct {
	Version     uint64
	Role        Role
	TunnelID    string // connector only
	Secret      string // connector only; never logged
	ConnectorID string // connector only: one per connector process
	ConnIndex   uint64 // connector only: which of its HA connections
	Software    string // e.g. "airlock-connector v1.2.3"
	// Assertions (connector only) says the connector checks the edge's
	// per-stream assertion ([Dial].Assertion); an edge routes streams
	// only to connectors that do.
	Assertions bool
	// Members (connector only) says the connector follows the fleet's
	// members: the edge sends it [Members] frames. An older connector
	// would take the unknown frame for a broken control stream.
	Members bool
}

// FrameType implements Frame.
func (*Hello) FrameType() FrameType { return FrameHello }

func (h *Hello) appendFields(b []byte) []byte {
	b = appendUint(b, 1, h.Version)
	b = appendUint(b, 2, uint64(h.Role))
	b = appendString(b, 3, h.TunnelID)
	b = appendString(b, 4, h.Secret)
	b = appendString(b, 5, h.ConnectorID)
	b = appendUint(b, 6, h.ConnIndex)
	b = appendString(b, 7, h.Software)
	b = appendBool(b, 8, h.Assertions)
	return appendBool(b, 9, h.Members)
}

func (h *Hello) decodeField(tag uint8, v []byte) (err error) {
	switch tag {
	case 1:
		h.Version, err = decodeUint(v, "version", 1<<16)
	case 2:
		var r uint64
		r, err = decodeUint(v, "role", 255)
		h.Role = Role(r)
	case 3:
		h.TunnelID, err = decodeString(v, "tunnel id", MaxTextLen)
	case 4:
		h.Secret, err = decodeString(v, "secret", MaxTextLen)
	case 5:
		h.ConnectorID, err = decodeString(v, "connector id", MaxTextLen)
	case 6:
		h.ConnIndex, err = decodeUint(v, "connection index", 1<<16)
	case 7:
		h.Software, err = decodeString(v, "software", MaxTextLen)
	case 8:
		h.Assertions, err = decodeBool(v, "assertions")
	case 9:
		h.Members, err = decodeBool(v, "members")
	}
	return err
}

func (h *Hello) validate() error {
	if h.Version == 0 {
		return errors.New("version is missing")
	}
	switch h.Role {
	case RoleClient:
	case RoleConnector:
		if h.TunnelID == "" || h.Secret == "" {
			return errors.New("a connector must send its tunnel id and secret")
		}
	default:
		return fmt.Errorf("unknown %s", h.Role)
	}
	return nil
}

// PublicKey is one of the edge's token verification keys.
type PublicKey struct {
	ID  string // the JWT "kid"
	Key ed25519.PublicKey
}

func appendKeys(b []byte, tag uint8, keys []PublicKey) []byte {
	for _, k := range keys {
		v := make([]byte, 0, len(k.Key)+len(k.ID))
		v = append(append(v, k.Key...), k.ID...)
		b = appendBytes(b, tag, v)
	}
	return b
}

func decodeKey(v []byte) (PublicKey, error) {
	if len(v) < ed25519.PublicKeySize {
		return PublicKey{}, fmt.Errorf("key of %d bytes is shorter than an Ed25519 key", len(v))
	}
	id, err := decodeString(v[ed25519.PublicKeySize:], "key id", MaxTextLen)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{ID: id, Key: ed25519.PublicKey(append([]byte(nil), v[:ed25519.PublicKeySize]...))}, nil
}

const maxKeys = 16

// Welcome is the edge's answer to Hello.
type Welcome struct {
	Version uint64
	Code    Code
	Message string
	EdgeID  string      // which edge process answered, for logs
	ConnID  string      // this connection's id at the edge, for logs
	Keys    []PublicKey // connector only: keys that sign the tokens it will see
	Pings   bool        // the edge accepts Ping frames on the control stream
	// Handover (connector only): the edge routes to a connection whose
	// Drain is Serving only while its tunnel has nothing else here, and
	// sends it a plain Drain the moment another connector can take its
	// streams (or at once when one can already).
	Handover bool
}

// FrameType implements Frame.
func (*Welcome) FrameType() FrameType { return FrameWelcome }

func (w *Welcome) appendFields(b []byte) []byte {
	b = appendUint(b, 1, w.Version)
	b = appendUint(b, 2, uint64(w.Code))
	b = appendString(b, 3, w.Message)
	b = appendString(b, 4, w.EdgeID)
	b = appendString(b, 5, w.ConnID)
	b = appendKeys(b, 6, w.Keys)
	b = appendBool(b, 7, w.Pings)
	return appendBool(b, 8, w.Handover)
}

func (w *Welcome) decodeField(tag uint8, v []byte) (err error) {
	switch tag {
	case 1:
		w.Version, err = decodeUint(v, "version", 1<<16)
	case 2:
		var c uint64
		c, err = decodeUint(v, "code", 1<<16-1)
		w.Code = Code(c)
	case 3:
		w.Message, err = decodeString(v, "message", MaxTextLen)
	case 4:
		w.EdgeID, err = decodeString(v, "edge id", MaxTextLen)
	case 5:
		w.ConnID, err = decodeString(v, "connection id", MaxTextLen)
	case 6:
		if len(w.Keys) == maxKeys {
			return fmt.Errorf("more than %d keys", maxKeys)
		}
		var k PublicKey
		if k, err = decodeKey(v); err == nil {
			w.Keys = append(w.Keys, k)
		}
	case 7:
		w.Pings, err = decodeBool(v, "pings")
	case 8:
		w.Handover, err = decodeBool(v, "handover")
	}
	return err
}

func (w *Welcome) validate() error {
	if w.Version == 0 {
		return errors.New("version is missing")
	}
	return nil
}

// Err returns the refusal a Welcome carries, or nil for CodeOK.
func (w *Welcome) Err() error {
	if w.Code == CodeOK {
		return nil
	}
	return &Error{Code: w.Code, Message: w.Message}
}

// Drain says: open no new streams on this connection; open ones may finish.
// Serving (from a connector, to an edge whose Welcome says Handover) says
// instead: this connector is leaving, but takes new streams until its
// grace period ends or the edge answers with a plain Drain; route to it
// only when nothing else can take them (a lone connector restarting).
type Drain struct {
	Reason  string
	Serving bool
}

// FrameType implements Frame.
func (*Drain) FrameType() FrameType { return FrameDrain }

func (d *Drain) appendFields(b []byte) []byte {
	b = appendString(b, 1, d.Reason)
	return appendBool(b, 2, d.Serving)
}

func (d *Drain) decodeField(tag uint8, v []byte) (err error) {
	switch tag {
	case 1:
		d.Reason, err = decodeString(v, "reason", MaxTextLen)
	case 2:
		d.Serving, err = decodeBool(v, "serving")
	}
	return err
}

func (*Drain) validate() error { return nil }

// MaxPingPadding bounds the padding of a Ping.
const MaxPingPadding = 1024

// PingPadding is the padding senders put in a Ping: enough that the QUIC
// packet carrying it is larger than the 42 bytes below which quic-go sends
// no stateless reset.
const PingPadding = 48

// Ping is a liveness probe a connector sends on its control stream to an
// edge whose Welcome says it accepts them; the edge ignores it. QUIC's own
// keep-alive packets are too small (about 25 bytes) to be answered with a
// stateless reset, so without this a connector would learn that its edge
// was killed and restarted only from its idle timeout; the padding makes
// the packet large enough to be answered at once.
type Ping struct {
	Padding int // bytes of padding, at most MaxPingPadding
}

// FrameType implements Frame.
func (*Ping) FrameType() FrameType { return FramePing }

func (p *Ping) appendFields(b []byte) []byte {
	if p.Padding <= 0 {
		return b
	}
	return appendBytes(b, 1, make([]byte, min(p.Padding, MaxPingPadding)))
}

func (p *Ping) decodeField(tag uint8, v []byte) error {
	if tag == 1 {
		if len(v) > MaxPingPadding {
			return fmt.Errorf("padding of %d bytes exceeds %d", len(v), MaxPingPadding)
		}
		p.Padding = len(v)
	}
	return nil
}

func (*Ping) validate() error { return nil }

// Keys replaces the token verification keys a connector holds (key rotation).
type Keys struct {
	Keys []PublicKey
}

// FrameType implements Frame.
func (*Keys) FrameType() FrameType { return FrameKeys }

func (k *Keys) appendFields(b []byte) []byte { return appendKeys(b, 1, k.Keys) }

func (k *Keys) decodeField(tag uint8, v []byte) error {
	if tag != 1 {
		return nil
	}
	if len(k.Keys) == maxKeys {
		return fmt.Errorf("more than %d keys", maxKeys)
	}
	key, err := decodeKey(v)
	if err == nil {
		k.Keys = append(k.Keys, key)
	}
	return err
}

func (k *Keys) validate() error {
	if len(k.Keys) == 0 {
		return errors.New("no keys")
	}
	return nil
}

// Open is the first frame of a stream a daemon opens: which app, as whom,
// and the target the local client asked for (informational: the connector
// dials only the origin its ingress rule names).
type Open struct {
	App    string // the app's hostname, e.g. "k8s.prod.example.com"
	Token  string // an access or service token; never logged
	Target string // host:port from the SOCKS CONNECT
}

// FrameType implements Frame.
func (*Open) FrameType() FrameType { return FrameOpen }

func (o *Open) appendFields(b []byte) []byte {
	b = appendString(b, 1, o.App)
	b = appendString(b, 2, o.Token)
	return appendString(b, 3, o.Target)
}

func (o *Open) decodeField(tag uint8, v []byte) (err error) {
	switch tag {
	case 1:
		o.App, err = decodeString(v, "app", MaxHostnameLen)
	case 2:
		o.Token, err = decodeString(v, "token", MaxTokenLen)
	case 3:
		o.Target, err = decodeString(v, "target", MaxHostnameLen+6)
	}
	return err
}

func (o *Open) validate() error {
	if err := CheckHostname(o.App); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	if o.Target != "" {
		if err := CheckTarget(o.Target); err != nil {
			return fmt.Errorf("target: %w", err)
		}
	}
	return nil
}

// Dial is the first frame of a stream the edge opens to a connector. It
// carries the identity the edge verified, and an assertion of it the edge
// signs for this stream alone (audience this tunnel, this app, this stream
// id; a lifetime of seconds; see internal/token), which the connector
// verifies with the edge's keys before it dials: the connector never sees
// the user's token, and what it sees opens nothing anywhere else.
//
// Field 3 carried the user's token up to that change: it is never used
// again, and a connector that still reads it finds it empty.
type Dial struct {
	App       string
	Target    string
	Email     string
	Subject   string
	StreamID  string // the edge's id of this stream, shared by both audit logs
	Assertion string // the edge's signed assertion for this stream; never logged
}

// FrameType implements Frame.
func (*Dial) FrameType() FrameType { return FrameDial }

func (d *Dial) appendFields(b []byte) []byte {
	b = appendString(b, 1, d.App)
	b = appendString(b, 2, d.Target)
	b = appendString(b, 4, d.Email)
	b = appendString(b, 5, d.Subject)
	b = appendString(b, 6, d.StreamID)
	return appendString(b, 7, d.Assertion)
}

func (d *Dial) decodeField(tag uint8, v []byte) (err error) {
	switch tag {
	case 1:
		d.App, err = decodeString(v, "app", MaxHostnameLen)
	case 2:
		d.Target, err = decodeString(v, "target", MaxHostnameLen+6)
	case 4:
		d.Email, err = decodeString(v, "email", MaxTextLen)
	case 5:
		d.Subject, err = decodeString(v, "subject", MaxTextLen)
	case 6:
		d.StreamID, err = decodeString(v, "stream id", MaxTextLen)
	case 7:
		d.Assertion, err = decodeString(v, "assertion", MaxTokenLen)
	}
	return err
}

func (d *Dial) validate() error {
	if err := CheckHostname(d.App); err != nil {
		return fmt.Errorf("app: %w", err)
	}
	return nil
}

// Result answers Open (edge to daemon) and Dial (connector to edge).
type Result struct {
	Code    Code
	Message string
}

// FrameType implements Frame.
func (*Result) FrameType() FrameType { return FrameResult }

func (r *Result) appendFields(b []byte) []byte {
	b = appendUint(b, 1, uint64(r.Code))
	return appendString(b, 2, r.Message)
}

func (r *Result) decodeField(tag uint8, v []byte) (err error) {
	switch tag {
	case 1:
		var c uint64
		c, err = decodeUint(v, "code", 1<<16-1)
		r.Code = Code(c)
	case 2:
		r.Message, err = decodeString(v, "message", MaxTextLen)
	}
	return err
}

func (*Result) validate() error { return nil }

// Err returns the refusal a Result carries, or nil for CodeOK.
func (r *Result) Err() error {
	if r.Code == CodeOK {
		return nil
	}
	return &Error{Code: r.Code, Message: r.Message}
}

// CheckHostname reports whether s is a DNS hostname as apps are named:
// letters, digits, '-', '_' and '.', labels of 1 to 63 bytes that neither
// start nor end with '-'.
func CheckHostname(s string) error {
	if s == "" {
		return errors.New("hostname is empty")
	}
	if len(s) > MaxHostnameLen {
		return fmt.Errorf("hostname is %d bytes, limit %d", len(s), MaxHostnameLen)
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if label == 0 {
				return fmt.Errorf("hostname %q has an empty label", s)
			}
			if s[i-1] == '-' {
				return fmt.Errorf("hostname %q has a label that ends with '-'", s)
			}
			label = 0
			continue
		case c == '-':
			if label == 0 {
				return fmt.Errorf("hostname %q has a label that starts with '-'", s)
			}
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		default:
			return fmt.Errorf("hostname %q has a bad character %q", s, c)
		}
		if label++; label > 63 {
			return fmt.Errorf("hostname %q has a label over 63 bytes", s)
		}
	}
	if label == 0 {
		return fmt.Errorf("hostname %q ends with a dot", s)
	}
	if s[len(s)-1] == '-' {
		return fmt.Errorf("hostname %q has a label that ends with '-'", s)
	}
	return nil
}

// CheckTarget reports whether s is host:port with a port in 1..65535.
func CheckTarget(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return fmt.Errorf("%q has a bad port", s)
	}
	return nil
}
