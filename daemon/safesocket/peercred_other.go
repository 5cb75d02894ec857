//go:build !linux && !darwin && !freebsd

package safesocket

import (
	"errors"
	"net"
)

// PeerUID is not implemented on this platform: every peer is refused.
func PeerUID(net.Conn) (int, error) {
	return -1, errors.New("peer credentials are not supported on this platform")
}
