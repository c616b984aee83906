-- Rollups for the query API, bots left out. Times are UTC: the *_daily
-- tables count by UTC day, the *_15m tables by quarter hour, which is fine
-- enough to re-bucket into hours and days of any time zone (some are offset
-- by 30 or 45 minutes). A table created empty is first filled from the
-- events already stored, then its view keeps it current; events inserted
-- while this migration runs may be missed, so migrate before ingesting.

CREATE TABLE IF NOT EXISTS group_daily (
    day Date,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (group_id, day, type, network, actor);

INSERT INTO group_daily (day, group_id, type, network, actor, events, visitors)
SELECT
    toDate(time, 'UTC') AS day,
    group_id,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM group_daily) = 0
GROUP BY day, group_id, type, network, actor;

CREATE MATERIALIZED VIEW IF NOT EXISTS group_daily_mv TO group_daily AS
SELECT
    toDate(time, 'UTC') AS day,
    group_id,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY day, group_id, type, network, actor;

CREATE TABLE IF NOT EXISTS group_15m (
    t DateTime,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(t)
ORDER BY (group_id, t, type, network, actor);

INSERT INTO group_15m (t, group_id, type, network, actor, events, visitors)
SELECT
    toStartOfFifteenMinutes(time) AS t,
    group_id,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM group_15m) = 0
GROUP BY t, group_id, type, network, actor;

CREATE MATERIALIZED VIEW IF NOT EXISTS group_15m_mv TO group_15m AS
SELECT
    toStartOfFifteenMinutes(time) AS t,
    group_id,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY t, group_id, type, network, actor;

CREATE TABLE IF NOT EXISTS credential_15m (
    t DateTime,
    credential String,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(t)
ORDER BY (credential, t, group_id, type, network, actor);

INSERT INTO credential_15m (t, credential, group_id, type, network, actor, events, visitors)
SELECT
    toStartOfFifteenMinutes(time) AS t,
    credential,
    group_id,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM credential_15m) = 0
GROUP BY t, credential, group_id, type, network, actor;

CREATE MATERIALIZED VIEW IF NOT EXISTS credential_15m_mv TO credential_15m AS
SELECT
    toStartOfFifteenMinutes(time) AS t,
    credential,
    group_id,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY t, credential, group_id, type, network, actor;
