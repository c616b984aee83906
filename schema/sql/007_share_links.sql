-- Read-only dashboard links scoped to one group or one credential. The link
-- itself is signed with the server's dashboard secret and never stored; a
-- revocation is a newer version of the same row.
CREATE TABLE IF NOT EXISTS share_links (
    id String,
    name String,
    scope Enum8('group' = 1, 'credential' = 2),
    value String,
    created_at DateTime,
    revoked_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
