package edgeclient

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// resolveUDP resolves an edge's host:port, preferring IPv4 as
// net.ResolveUDPAddr does, within ctx.
func resolveUDP(ctx context.Context, addr string) (*net.UDPAddr, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		p, perr := net.DefaultResolver.LookupPort(ctx, "udp", portStr)
		if perr != nil {
			return nil, fmt.Errorf("port %q: %w", portStr, perr)
		}
		port = uint64(p)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("no address for %s", host)
	}
	pick := ips[0]
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			pick = ip
			break
		}
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(pick.Unmap(), uint16(port))), nil
}

// listenToward binds a UDP socket to the local address the kernel routes
// raddr from, on a port of its choosing: an edge on loopback gets a
// loopback socket, so nothing of ours listens on other interfaces.
//
// A socket bound to one address cannot follow the machine to another
// network on its own: the connection's watcher (migrate.go) notices the
// change, binds a new socket with listenToward and moves the connection
// to it.
func listenToward(raddr *net.UDPAddr) (*net.UDPConn, error) {
	local, err := routeSource(raddr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP(udpNetwork(raddr), &net.UDPAddr{IP: local.IP, Zone: local.Zone})
	if err != nil {
		return nil, fmt.Errorf("bind a UDP socket on %s: %w", local.IP, err)
	}
	return conn, nil
}

// routeSource returns the local address the kernel would send to raddr
// from now, learnt from a connected UDP socket, which sends no packet.
func routeSource(raddr *net.UDPAddr) (*net.UDPAddr, error) {
	probe, err := net.DialUDP(udpNetwork(raddr), nil, raddr)
	if err != nil {
		return nil, fmt.Errorf("find the local address toward %s: %w", raddr, err)
	}
	local, _ := probe.LocalAddr().(*net.UDPAddr)
	probe.Close()
	if local == nil || local.IP.IsUnspecified() {
		return nil, fmt.Errorf("no local address routes to %s", raddr)
	}
	return local, nil
}

func udpNetwork(raddr *net.UDPAddr) string {
	if raddr.IP.To4() == nil {
		return "udp6"
	}
	return "udp4"
}
