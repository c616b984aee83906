-- Daily counters and unique-viewer states per credential, without bots.
CREATE TABLE IF NOT EXISTS credential_daily (
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
ORDER BY (credential, day, type, network, actor, group_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS credential_daily_mv TO credential_daily AS
SELECT
    toDate(time) AS day,
    credential,
    group_id,
    type,
    network,
    actor,
    countState() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY day, credential, group_id, type, network, actor;
