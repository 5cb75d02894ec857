// Package postgres is the sign-in server's shared store ([oauth.Store])
// in PostgreSQL, for a fleet of edges over one database: authorization
// codes, refresh-token families with their reuse detection, device
// authorizations, revocations, and the push that tells every edge of a
// revocation at once ([Store.WatchRevocations], LISTEN/NOTIFY); and the
// public halves of the fleet's token signing keys, so that a token any
// edge signed verifies at every edge ([Store.PublishKeys],
// [Store.FleetKeys], [Store.WatchKeys]); and the fleet's membership,
// the running edges and the addresses connectors dial, with a generation
// that grows at every change ([Store.Beat], [Store.Leave],
// [Store.Members], [Store.WatchFleet]).
//
// The schema is versioned SQL in migrations/, embedded and applied by
// [Store.Migrate] (goose, with its table lock rather than advisory
// locks); [Open] refuses a database whose schema is behind unless asked
// to migrate it.
//
// Each record is kept whole as JSON (the oauth package's encoding, so a
// field it adds needs no migration), beside the columns the queries
// select on, which the store keeps in step in the same statement. Every
// query has a deadline (Options.QueryTimeout) and the pool a size
// (Options.MaxConns). The SQL is what CockroachDB and YugabyteDB also
// run: plain tables, TIMESTAMPTZ (compared at microsecond precision),
// JSONB, INSERT … ON CONFLICT DO NOTHING, UPDATE … RETURNING, SELECT …
// FOR UPDATE, ON DELETE CASCADE, LEFT JOIN … ON true, and in a
// migration md5(), random() and clock_timestamp(); transactions retry on serialization
// failures (SQLSTATE 40001), which those databases return under load.
// The revocation push needs LISTEN/NOTIFY (PostgreSQL only); without it
// the store works and WatchRevocations reports ErrNoNotify.
package postgres
