// Package relay owns what every hop does with a proxied stream once it is
// open: [Splice] copies both directions with half-close and aborts both on
// an error, and [CodeOf] and [ResultOf] turn an error — including a QUIC
// stream or connection error a peer sent — into the wire code that reports
// it. It is the one place outside the transports that knows quic-go's error
// types, so that internal/wire stays a leaf.
package relay
