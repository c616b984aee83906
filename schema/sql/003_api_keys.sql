-- API keys, stored hashed. A revocation is a newer version of the same row.
CREATE TABLE IF NOT EXISTS api_keys (
    id String,
    name String,
    hash String,
    scopes Array(String),
    created_at DateTime,
    revoked_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
