-- The credential registry: what a credential is, as the issuer's platform
-- says; a newer version of a row replaces the older. Times are UTC, and
-- 1970-01-01 00:00:00 is unknown.
CREATE TABLE IF NOT EXISTS credentials (
    id String,
    name String,
    recipient_name String,
    group_id String,
    group_name String,
    organization String,
    issued_at DateTime('UTC'),
    expires_at DateTime('UTC'),
    status Enum8('valid' = 1, 'expired' = 2, 'revoked' = 3),
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
