package core

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"syscall"

	"github.com/airlockhq/airlock/daemon/config"
	"github.com/airlockhq/airlock/internal/buildinfo"
	"github.com/airlockhq/airlock/internal/edgeclient"
	"github.com/airlockhq/airlock/internal/wire"
)

// NewEdgeClient returns the production Edge: an edgeclient.Fleet for e's
// addresses (one, a name that may resolve to several, or a list), one QUIC
// connection per edge address shared by every cluster behind it,
// re-dialled transparently, a stream moving to another address when one
// fails. Its Hello names the software as "airlock VERSION"; an empty
// version means this binary's build (buildinfo.Software).
func NewEdgeClient(e config.Edge, version string, log *slog.Logger) Edge {
	software := buildinfo.Software("airlock")
	if version != "" {
		software = "airlock " + version
	}
	addrs := e.Addresses
	if len(addrs) == 0 {
		addrs = []string{e.Address}
	}
	return edgeClient{edgeclient.NewFleet(edgeclient.FleetConfig{
		Config: edgeclient.Config{
			ServerName: e.ServerName,
			RootCAs:    e.RootCAs,
			Hello:      wire.Hello{Software: software},
			Logger:     log,
			Transport:  e.Transport,
			// The edge's TCP port is its UDP port (TCPAddr's default).
			RetryQUICAfter: e.QUICRetry,
		},
		Addrs: addrs,
	})}
}

type edgeClient struct{ *edgeclient.Fleet }

func (e edgeClient) Open(ctx context.Context, o *wire.Open) (net.Conn, error) {
	s, err := e.Fleet.Open(ctx, o)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return s, nil
}

// ProxyURL returns the kubeconfig proxy-url for a listener:
// socks5://USER:PASS@HOST:PORT.
func ProxyURL(user, pass, addr string) string {
	u := url.URL{Scheme: "socks5", User: url.UserPassword(user, pass), Host: addr}
	return u.String()
}

// isAddrNotAvail reports whether a listen failed because the address does
// not exist on this host (EADDRNOTAVAIL: 127.0.0.2 on macOS).
func isAddrNotAvail(err error) bool { return errors.Is(err, syscall.EADDRNOTAVAIL) }
