// Package transport is the one interface the edge, the daemon and the
// connector use for a connection to a peer and its streams, with two
// implementations: QUIC (quic-go, the default) and TCP (TLS 1.3 on TCP,
// multiplexed by hashicorp/yamux, for networks that drop UDP).
//
// Both carry the same stream protocol (package wire) and the same
// semantics: a stream has two directions, each ended either cleanly (FIN)
// or with a reset that carries a [wire.Code]; a connection closes with a
// code and a message the peer reads. yamux has no reset with a code, so on
// TCP every stream carries its bytes in small frames (frame.go): DATA,
// FIN and RESET. A yamux stream that ends without a FIN frame (the peer
// crashed, the connection died) reads as a reset, never as a clean end.
package transport
