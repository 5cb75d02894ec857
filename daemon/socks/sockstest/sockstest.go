// Package sockstest is a minimal SOCKS5 client for tests: it speaks the
// greeting, username/password authentication (RFC 1929) and CONNECT with a
// domain name, and reports the server's reply code so tests can assert it.
package sockstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// ErrAuthFailed is returned when the server refuses the credentials or
// offers no method we proposed.
var ErrAuthFailed = errors.New("socks5: authentication refused")

// ReplyError is a CONNECT the server answered with a non-zero reply.
type ReplyError struct{ Reply uint8 }

func (e *ReplyError) Error() string { return fmt.Sprintf("socks5: reply %#02x", e.Reply) }

// Dial connects to the SOCKS5 proxy at proxy, authenticates with user and
// pass (no authentication when both are empty) and CONNECTs to target
// (host:port; the host is sent as a domain name unless it is an IP). On a
// refusal it returns a *ReplyError carrying the reply code.
func Dial(ctx context.Context, proxy, user, pass, target string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if err := handshake(c, user, pass, target); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// Reply returns the reply code carried by err: 0 for nil, the code of a
// *ReplyError, and 0xff otherwise.
func Reply(err error) uint8 {
	if err == nil {
		return 0
	}
	var re *ReplyError
	if errors.As(err, &re) {
		return re.Reply
	}
	return 0xff
}

func handshake(c net.Conn, user, pass, target string) error {
	method := byte(0x00)
	if user != "" || pass != "" {
		method = 0x02
	}
	if _, err := c.Write([]byte{5, 1, method}); err != nil {
		return err
	}
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("socks5 greeting: %w", err)
	}
	if b[0] != 5 || b[1] != method {
		return fmt.Errorf("%w: server chose method %#02x", ErrAuthFailed, b[1])
	}
	if method == 0x02 {
		msg := []byte{1, byte(len(user))}
		msg = append(msg, user...)
		msg = append(msg, byte(len(pass)))
		msg = append(msg, pass...)
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return fmt.Errorf("%w: %v", ErrAuthFailed, err)
		}
		if b[1] != 0 {
			return ErrAuthFailed
		}
	}
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return err
	}
	req := []byte{5, 1, 0}
	if ip := net.ParseIP(host); ip != nil && ip.To4() != nil {
		req = append(append(req, 1), ip.To4()...)
	} else if ip != nil {
		req = append(append(req, 4), ip.To16()...)
	} else {
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = append(req, byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		return err
	}
	var head [4]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return fmt.Errorf("socks5 reply: %w", err)
	}
	if head[1] != 0 {
		return &ReplyError{Reply: head[1]}
	}
	var skip int
	switch head[3] {
	case 1:
		skip = 4 + 2
	case 4:
		skip = 16 + 2
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return err
		}
		skip = int(l[0]) + 2
	default:
		return fmt.Errorf("socks5 reply: address type %#02x", head[3])
	}
	_, err = io.ReadFull(c, make([]byte, skip))
	return err
}
