-- Share reach (internal/catalog/reach.go). Every event gets the arrival of
-- its page load (arrived_from: a network, direct, site or web; '' where no
-- page is named) and the sharer of the tagged link it came by (shared_by),
-- filled at ingest (internal/arrival); events stored before have ''. One
-- new rollup, reach_15m, counts them, so that the others stay as small. A
-- share is counted under the network it went to, by its actor, as ingest
-- stores it; the backfill counts earlier shares so. Its aliases differ
-- from the column names, which ClickHouse would take for cyclic; INSERT
-- SELECT matches columns by position. The unfurls table holds link-preview
-- crawlers' fetches of the social card (GET /og/ID.png): crawler traffic,
-- never events. Migrate before ingesting (see 004). The text is written
-- out, not rendered from the catalog, so that later catalog changes leave
-- this migration as it was.

ALTER TABLE events ADD COLUMN arrived_from Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10, 'direct' = 11, 'site' = 12, 'web' = 13);

ALTER TABLE events ADD COLUMN shared_by Enum8('' = 0, 'guest' = 1, 'recipient' = 2);

CREATE TABLE IF NOT EXISTS reach_15m (
    t DateTime,
    credential String,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    arrived_from Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10, 'direct' = 11, 'site' = 12, 'web' = 13),
    shared_by Enum8('' = 0, 'guest' = 1, 'recipient' = 2),
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(t)
ORDER BY (credential, t, group_id, type, network, actor, arrived_from, shared_by);

INSERT INTO reach_15m (t, credential, group_id, type, network, actor, arrived_from, shared_by, events, visitors)
SELECT
    toStartOfFifteenMinutes(time) AS t,
    credential,
    group_id,
    type,
    network,
    actor,
    CAST(if(type = 'share', toString(network), toString(arrived_from)) AS Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10, 'direct' = 11, 'site' = 12, 'web' = 13)) AS arrival,
    CAST(if(type = 'share', toString(actor), toString(shared_by)) AS Enum8('' = 0, 'guest' = 1, 'recipient' = 2)) AS sharer,
    count() AS events,
    uniqStateIf(visitor, visitor != 0) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM reach_15m) = 0
GROUP BY t, credential, group_id, type, network, actor, arrival, sharer;

CREATE MATERIALIZED VIEW IF NOT EXISTS reach_15m_mv TO reach_15m AS
SELECT
    toStartOfFifteenMinutes(time) AS t,
    credential,
    group_id,
    type,
    network,
    actor,
    arrived_from,
    shared_by,
    count() AS events,
    uniqStateIf(visitor, visitor != 0) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY t, credential, group_id, type, network, actor, arrived_from, shared_by;

CREATE TABLE IF NOT EXISTS unfurls (
    time DateTime,
    credential String,
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    crawler {{.Dict}}
) ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (credential, time);

