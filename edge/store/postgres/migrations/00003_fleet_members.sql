-- The fleet's membership (members.go): one row per running edge, with the
-- address connectors dial, kept alive by its heartbeat (expires) and
-- removed when it stops; and one row for the fleet itself, whose
-- generation grows with every change of the member list, so that a
-- connector told two lists keeps the newer one.

-- +goose Up
CREATE TABLE airlock_fleet (
    id         INT PRIMARY KEY,
    name       TEXT NOT NULL,
    generation BIGINT NOT NULL
);
INSERT INTO airlock_fleet (id, name, generation)
    VALUES (1, md5(random()::text || clock_timestamp()::text), 0);

CREATE TABLE airlock_edges (
    id       TEXT PRIMARY KEY,
    addr     TEXT NOT NULL,
    instance TEXT NOT NULL,
    joined   TIMESTAMPTZ NOT NULL,
    expires  TIMESTAMPTZ NOT NULL
);
CREATE INDEX airlock_edges_expires ON airlock_edges (expires);

-- +goose Down
DROP TABLE airlock_edges;
DROP TABLE airlock_fleet;
