// Package pgtest runs a real PostgreSQL cluster on loopback for other
// packages' tests: initdb into a new temporary folder, the server on a free
// port of 127.0.0.1 with its unix socket in that folder, password (SCRAM)
// authentication over TCP, and everything stopped and removed when the
// test ends.
//
// The programs come from $AIRLOCK_PG_BIN when set, else the newest
// /usr/lib/postgresql/*/bin (Debian's postgresql package), else the folder
// of initdb on PATH. initdb refuses to run as root, so under root the
// cluster runs as the user "postgres" (the package creates it), else
// "nobody". Without the programs or such a user, [Start] skips the test,
// or fails it when CI=true.
//
// initdb and start take about a second; a test with many cases starts one
// [Cluster] and gives each case its own database ([Cluster.NewDatabase]).
package pgtest
