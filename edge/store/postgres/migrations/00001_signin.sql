-- The sign-in server's records (edge/oauth.Store). Keys are SHA-256
-- digests (hex) of the secrets; record is the whole record as JSON, the
-- other columns what the queries select on.

-- +goose Up
CREATE TABLE airlock_codes (
    key     TEXT PRIMARY KEY,
    expires TIMESTAMPTZ NOT NULL,
    used    BOOLEAN NOT NULL DEFAULT false,
    family  TEXT NOT NULL DEFAULT '',
    record  JSONB NOT NULL
);
CREATE INDEX airlock_codes_expires ON airlock_codes (expires);

CREATE TABLE airlock_families (
    id          TEXT PRIMARY KEY,
    email_fold  TEXT NOT NULL,
    created     TIMESTAMPTZ NOT NULL,
    expires     TIMESTAMPTZ NOT NULL,
    generation  BIGINT NOT NULL,
    current_key TEXT NOT NULL,
    revoked     TIMESTAMPTZ,
    record      JSONB NOT NULL
);
CREATE INDEX airlock_families_email ON airlock_families (email_fold);
CREATE INDEX airlock_families_revoked ON airlock_families (revoked);
CREATE INDEX airlock_families_expires ON airlock_families (expires);

CREATE TABLE airlock_refresh (
    key        TEXT PRIMARY KEY,
    family     TEXT NOT NULL REFERENCES airlock_families (id) ON DELETE CASCADE,
    generation BIGINT NOT NULL
);
CREATE INDEX airlock_refresh_family ON airlock_refresh (family);

CREATE TABLE airlock_devices (
    key       TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    expires   TIMESTAMPTZ NOT NULL,
    record    JSONB NOT NULL
);
CREATE INDEX airlock_devices_expires ON airlock_devices (expires);

-- +goose Down
DROP TABLE airlock_devices;
DROP TABLE airlock_refresh;
DROP TABLE airlock_families;
DROP TABLE airlock_codes;
