// Package credentials reads and writes a connector's credentials file: what
// `airlock-edge tunnel create` writes and `airlock-connector` reads (the
// tunnel's id, name and secret, its edges and the CA that signed them),
// written atomically with mode 0600 and validated on read.
package credentials
