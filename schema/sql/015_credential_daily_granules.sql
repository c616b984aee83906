-- A credential's counters read its rows of credential_daily, and ClickHouse
-- decodes the visitor states of every row of each index granule it reads:
-- with granules of 8,192 rows, one credential's counters decoded the
-- states of thousands of other credentials. The table is rebuilt with
-- granules of 1,024 rows (index_granularity is fixed when a table is
-- created): a new table is filled from the old one and takes its name, and
-- the view feeds it as 008 left it. Events inserted while this runs are
-- missed by credential_daily, as 004 says: migrate before ingesting. If it
-- stops half-way, the version is left dirty and every row is still in
-- credential_daily or credential_daily_old. The text is written out, not
-- rendered from the catalog, so that later catalog changes leave this
-- migration as it was.

CREATE TABLE IF NOT EXISTS credential_daily_next (
    day Date,
    credential String,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    events AggregateFunction(count),
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (credential, day, type, network, actor, group_id)
SETTINGS index_granularity = 1024;

DROP TABLE IF EXISTS credential_daily_mv;

INSERT INTO credential_daily_next (day, credential, group_id, type, network, actor, events, visitors)
SELECT day, credential, group_id, type, network, actor, events, visitors
FROM credential_daily;

RENAME TABLE credential_daily TO credential_daily_old;

RENAME TABLE credential_daily_next TO credential_daily;

CREATE MATERIALIZED VIEW IF NOT EXISTS credential_daily_mv TO credential_daily AS
SELECT
    toDate(time) AS day,
    credential,
    group_id,
    type,
    network,
    actor,
    countState() AS events,
    uniqStateIf(visitor, visitor != 0) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY day, credential, group_id, type, network, actor;

DROP TABLE credential_daily_old;
