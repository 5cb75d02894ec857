// Package edgeclient dials an Airlock edge over QUIC and speaks the control
// handshake of package wire. The daemon uses [Fleet]: a [Client] per edge
// address (one connection each, shared among all clusters and re-dialled
// transparently), the choice of address for each stream and the failover
// to another when one fails; the connector uses [Dial] and
// [Conn.AcceptStream] to serve streams the edge opens.
package edgeclient
