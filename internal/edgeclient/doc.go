// Package edgeclient dials an Airlock edge over QUIC and speaks the control
// handshake of package wire. The daemon uses [Client], which shares one
// connection per edge among all clusters and re-dials it transparently; the
// connector uses [Dial] and [Conn.AcceptStream] to serve streams the edge
// opens.
package edgeclient
