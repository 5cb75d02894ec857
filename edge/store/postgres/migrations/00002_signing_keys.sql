-- The public halves of the fleet's token signing keys (keys.go): every
-- edge publishes the keys its config lists, and verifies with all that
-- have not expired. Private keys never leave their edge's key files.

-- +goose Up
CREATE TABLE airlock_signing_keys (
    kid        TEXT PRIMARY KEY,
    public_key BYTEA NOT NULL,
    created    TIMESTAMPTZ NOT NULL,
    retired    TIMESTAMPTZ,
    expires    TIMESTAMPTZ
);
CREATE INDEX airlock_signing_keys_expires ON airlock_signing_keys (expires);

-- +goose Down
DROP TABLE airlock_signing_keys;
