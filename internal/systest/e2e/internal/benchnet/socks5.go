package benchnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// SOCKSError is a SOCKS5 refusal: the reply code the proxy sent.
type SOCKSError struct{ Code byte }

func (e *SOCKSError) Error() string {
	return fmt.Sprintf("socks5 proxy refused the connect: reply code %d", e.Code)
}

// DialSOCKS5 connects to target (host:port, sent as a name unless it is an
// IP literal) through the SOCKS5 proxy at proxy, with username/password
// authentication when user is not empty. It speaks one step at a time,
// waiting for each answer, as Go's own SOCKS client (used by kubectl) does,
// so its timing is what such clients see.
func DialSOCKS5(ctx context.Context, proxy, user, pass, target string) (net.Conn, error) {
	req, err := connectRequest(target)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return nil, fmt.Errorf("dial socks5 proxy: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	err = socksHandshake(c, user, pass, req)
	if !stop() {
		err = errors.Join(context.Cause(ctx), err)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("socks5 via %s to %s: %w", proxy, target, err)
	}
	return c, nil
}

func connectRequest(target string) ([]byte, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("socks5 target %q: %w", target, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("socks5 target %q has a bad port", target)
	}
	req := []byte{5, 1, 0}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is4() {
			req = append(req, 1)
		} else {
			req = append(req, 4)
		}
		req = append(req, ip.AsSlice()...)
	} else {
		if len(host) == 0 || len(host) > 255 {
			return nil, fmt.Errorf("socks5 target host %q must be 1 to 255 bytes", host)
		}
		req = append(req, 3, byte(len(host)))
		req = append(req, host...)
	}
	return binary.BigEndian.AppendUint16(req, uint16(p)), nil
}

func socksHandshake(c io.ReadWriter, user, pass string, req []byte) error {
	methods := []byte{5, 1, 0}
	if user != "" {
		methods = []byte{5, 2, 0, 2}
	}
	if _, err := c.Write(methods); err != nil {
		return fmt.Errorf("send greeting: %w", err)
	}
	var sel [2]byte
	if _, err := io.ReadFull(c, sel[:]); err != nil {
		return fmt.Errorf("read method selection: %w", err)
	}
	if sel[0] != 5 {
		return fmt.Errorf("proxy answered version %d, not 5", sel[0])
	}
	switch sel[1] {
	case 0:
	case 2:
		if user == "" {
			return errors.New("proxy asks for a password and we have none")
		}
		if len(user) > 255 || len(pass) > 255 {
			return errors.New("socks5 username and password must be at most 255 bytes")
		}
		auth := append([]byte{1, byte(len(user))}, user...)
		auth = append(append(auth, byte(len(pass))), pass...)
		if _, err := c.Write(auth); err != nil {
			return fmt.Errorf("send credentials: %w", err)
		}
		var st [2]byte
		if _, err := io.ReadFull(c, st[:]); err != nil {
			return fmt.Errorf("read the authentication status: %w", err)
		}
		if st[1] != 0 {
			return fmt.Errorf("proxy refused the username and password (status %d)", st[1])
		}
	case 0xff:
		return errors.New("proxy accepts none of our authentication methods")
	default:
		return fmt.Errorf("proxy chose authentication method %d that we did not offer", sel[1])
	}
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("send connect: %w", err)
	}
	_, err := ReadReply(c)
	return err
}

// ReadReply reads a SOCKS5 reply (RFC 1928 section 6) and returns the bound
// address it carries, or a *SOCKSError for a refusal.
func ReadReply(r io.Reader) (string, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return "", fmt.Errorf("read connect reply: %w", err)
	}
	if h[0] != 5 {
		return "", fmt.Errorf("connect reply has version %d, not 5", h[0])
	}
	var host string
	switch h[3] {
	case 1, 4:
		ip := make([]byte, 4)
		if h[3] == 4 {
			ip = make([]byte, 16)
		}
		if _, err := io.ReadFull(r, ip); err != nil {
			return "", fmt.Errorf("read the bound address: %w", err)
		}
		host = net.IP(ip).String()
	case 3:
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return "", fmt.Errorf("read the bound name length: %w", err)
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(r, name); err != nil {
			return "", fmt.Errorf("read the bound name: %w", err)
		}
		host = string(name)
	default:
		return "", fmt.Errorf("connect reply has unknown address type %d", h[3])
	}
	var port [2]byte
	if _, err := io.ReadFull(r, port[:]); err != nil {
		return "", fmt.Errorf("read the bound port: %w", err)
	}
	if h[1] != 0 {
		return "", &SOCKSError{Code: h[1]}
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:])))), nil
}
