-- Share reach by day and group, without the credential: the dashboard's
-- cards and the query API read it for ranges of whole UTC days, where
-- reach_15m, one row for nearly every event of a long tail of credentials,
-- is too slow past a few million events. Filled as 011 fills reach_15m (a
-- share under the network it went to, by its actor). Migrate before
-- ingesting (see 004). The text is written out, not rendered from the
-- catalog, so that later catalog changes leave this migration as it was.

CREATE TABLE IF NOT EXISTS reach_daily (
    day Date,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    arrived_from Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10, 'direct' = 11, 'site' = 12, 'web' = 13),
    shared_by Enum8('' = 0, 'guest' = 1, 'recipient' = 2),
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (group_id, day, type, network, actor, arrived_from, shared_by);

INSERT INTO reach_daily (day, group_id, type, network, actor, arrived_from, shared_by, events, visitors)
SELECT
    toDate(time, 'UTC') AS d,
    group_id,
    type,
    network,
    actor,
    CAST(if(type = 'share', toString(network), toString(arrived_from)) AS Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10, 'direct' = 11, 'site' = 12, 'web' = 13)) AS arrival,
    CAST(if(type = 'share', toString(actor), toString(shared_by)) AS Enum8('' = 0, 'guest' = 1, 'recipient' = 2)) AS sharer,
    count() AS events,
    uniqStateIf(visitor, visitor != 0) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM reach_daily) = 0
GROUP BY d, group_id, type, network, actor, arrival, sharer;

CREATE MATERIALIZED VIEW IF NOT EXISTS reach_daily_mv TO reach_daily AS
SELECT
    toDate(time, 'UTC') AS day,
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
GROUP BY day, group_id, type, network, actor, arrived_from, shared_by;
