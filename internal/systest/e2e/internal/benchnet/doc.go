// Package benchnet holds the network parts of the end-to-end benchmark
// (make bench) that run both in its helper program (benchproc) and in the
// benchmark itself: the origin's tiny request protocol, a minimal SOCKS5
// client, and the stages of a bare two-hop quic-go relay that is the
// transport's own limit, with no Airlock protocol and no authentication.
//
// The relay stages use the same QUIC settings as Airlock
// (edgeclient.DefaultQUICConfig) and the same copy code (relay.Splice), so
// that any gap between the relay and the Airlock path is the cost of
// Airlock's own work.
package benchnet
