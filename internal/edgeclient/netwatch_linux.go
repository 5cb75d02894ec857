package edgeclient

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"
)

// watchNetwork returns a channel that receives when the kernel reports a
// change of link, address or route (rtnetlink multicast groups), until ctx
// ends. The messages are not parsed: any change makes the watcher ask the
// kernel again which local address routes to the edge, which is the one
// question that matters. golang.org/x/sys/unix is enough for that; a
// netlink library (vishvananda/netlink, jsimonetti/rtnetlink) would only
// parse what is not read. Where the socket cannot be opened it returns nil
// and the watcher's periodic check does the work.
func watchNetwork(ctx context.Context, log *slog.Logger) <-chan struct{} {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		log.Debug("no netlink socket; checking the route periodically", "err", err)
		return nil
	}
	groups := uint32(unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR |
		unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		log.Debug("cannot join the netlink groups; checking the route periodically", "err", err)
		return nil
	}
	f := os.NewFile(uintptr(fd), "netlink") // non-blocking: reads use the poller, Close ends them
	context.AfterFunc(ctx, func() { f.Close() })
	ch := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 16<<10)
		for {
			_, err := f.Read(buf)
			if err != nil && !errors.Is(err, unix.ENOBUFS) { // ENOBUFS: events were lost, which is a change too
				if ctx.Err() == nil {
					log.Debug("netlink watch ended", "err", err)
				}
				return
			}
			select {
			case ch <- struct{}{}:
			default: // one pending wake-up is enough
			}
		}
	}()
	return ch
}
