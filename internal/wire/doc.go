// Package wire is the protocol that the daemon, the edge and the connector
// speak over QUIC: the ALPN and version, the typed frames of the control
// stream and of each data stream, and the numeric codes that carry a refusal
// from wherever it happens to the SOCKS5 reply and the logs.
//
// It owns framing only and is a leaf: the standard library and nothing else,
// no file IO and no transport. Mapping QUIC errors to codes and splicing
// streams live in internal/relay, the SOCKS5 reply table in daemon/socks, the
// edge server in edge and dialling an edge in internal/edgeclient.
//
// # Connections
//
// Every QUIC connection negotiates ALPN [ALPN]. The dialler (a daemon or a
// connector) opens the control stream first and sends [Hello]; the edge answers
// [Welcome] with [CodeOK] or a refusal, and then either side may send [Drain]
// (no new streams on this connection) and the edge may send [Keys] (its
// current token verification keys) for as long as the connection lives. A
// connector sends [Ping] now and then when the edge's Welcome says it
// accepts them: padded so that an edge killed and restarted answers with a
// QUIC stateless reset. To a connector whose Hello says it follows members,
// the edge sends [Members] right after its Welcome and whenever its fleet's
// list of edges changes: the connector keeps connections to each of them.
//
// A connector that drains a connection answers any stream that still
// arrives with [CodeGoingAway] before any bytes flow, and the edge retries
// that stream on another connection of the tunnel. Once its last stream
// has ended, the connector ends its side of the control stream (FIN),
// saying it has read everything the edge sent; once the last stream has
// ended at the edge too, the edge closes the connection with
// [CodeGoingAway]. Neither side waits on a timer for the other.
//
// A connector shutting down whose edge's Welcome says Handover sends a
// [Drain] with Serving instead: it is leaving but still takes new streams.
// The edge routes to it only while its tunnel has no other usable
// connection there, and answers with a plain [Drain] (hand over) as soon as
// another connector's connection can take the streams, after which the
// connector drains as above.
//
// # Streams
//
// A daemon opens one stream per proxied TCP connection and sends [Open]; the
// edge checks the token and the app's policy, opens a stream on one of the
// connector's connections and sends [Dial], which carries the edge's signed
// assertion of that stream instead of the token (to connectors whose Hello
// says they check it); the connector answers [Result],
// which the edge relays to the daemon. After an OK result the stream carries
// the TCP bytes both ways, untouched.
//
// # Frames
//
// A frame is one type byte, a big-endian uint16 payload length (at most
// [MaxFrameSize]) and the payload: a sequence of fields, each a tag byte, a
// uvarint length and that many bytes. Unknown tags are skipped so that later
// versions can add fields; known tags are checked strictly.
package wire
