-- Site-wide rollups, bots left out: a few dozen rows a day however many
-- credentials there are, for the dashboard's overall series; see 004 for
-- times and backfill.

CREATE TABLE IF NOT EXISTS totals_daily (
    day Date,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, type, network, actor);

INSERT INTO totals_daily (day, type, network, actor, events, visitors)
SELECT
    toDate(time, 'UTC') AS day,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM totals_daily) = 0
GROUP BY day, type, network, actor;

CREATE MATERIALIZED VIEW IF NOT EXISTS totals_daily_mv TO totals_daily AS
SELECT
    toDate(time, 'UTC') AS day,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY day, type, network, actor;

CREATE TABLE IF NOT EXISTS totals_15m (
    t DateTime,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(t)
ORDER BY (t, type, network, actor);

INSERT INTO totals_15m (t, type, network, actor, events, visitors)
SELECT
    toStartOfFifteenMinutes(time) AS t,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM totals_15m) = 0
GROUP BY t, type, network, actor;

CREATE MATERIALIZED VIEW IF NOT EXISTS totals_15m_mv TO totals_15m AS
SELECT
    toStartOfFifteenMinutes(time) AS t,
    type,
    network,
    actor,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY t, type, network, actor;
