-- Organizations: the issuers one server serves, each with the page hosts
-- its credential pages live on. A rename or a deletion is a newer version
-- of the same row. A credential belongs to the organization the registry
-- names for it, otherwise to the one whose host its pages were seen on
-- (credential_hosts); keys and shared links may belong to one.
CREATE TABLE IF NOT EXISTS organizations (
    id String,
    name String,
    hosts Array(String),
    created_at DateTime,
    deleted_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;

ALTER TABLE api_keys ADD COLUMN organization String DEFAULT '';

ALTER TABLE share_links ADD COLUMN organization String DEFAULT '';

-- The hosts each credential's pages were seen on, bots' included: a few
-- rows a credential.
CREATE TABLE IF NOT EXISTS credential_hosts (
    url_host String,
    credential String
) ENGINE = ReplacingMergeTree
ORDER BY (url_host, credential);

INSERT INTO credential_hosts (url_host, credential)
SELECT url_host, credential
FROM events
WHERE url_host != '' AND (SELECT count() FROM credential_hosts) = 0
GROUP BY url_host, credential;

CREATE MATERIALIZED VIEW IF NOT EXISTS credential_hosts_mv TO credential_hosts AS
SELECT url_host, credential
FROM events
WHERE url_host != ''
GROUP BY url_host, credential;
