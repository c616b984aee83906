-- Rollups with the traffic dimensions (referrer host, country, browser,
-- os, device, source), bots left out; see 004 for times and backfill.

CREATE TABLE IF NOT EXISTS traffic_daily (
    day Date,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    source Enum8('beacon' = 1, 'pixel' = 2, 'api' = 3),
    device Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4),
    country {{.Dict}},
    browser {{.Dict}},
    os {{.Dict}},
    referrer_host {{.Dict}},
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (group_id, day, type, network, actor, source, device, country, browser, os, referrer_host);

INSERT INTO traffic_daily (day, group_id, type, network, actor, source, device, country, browser, os, referrer_host, events, visitors)
SELECT
    toDate(time, 'UTC') AS day,
    group_id,
    type,
    network,
    actor,
    source,
    device,
    country,
    browser,
    os,
    referrer_host,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM traffic_daily) = 0
GROUP BY day, group_id, type, network, actor, source, device, country, browser, os, referrer_host;

CREATE MATERIALIZED VIEW IF NOT EXISTS traffic_daily_mv TO traffic_daily AS
SELECT
    toDate(time, 'UTC') AS day,
    group_id,
    type,
    network,
    actor,
    source,
    device,
    country,
    browser,
    os,
    referrer_host,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY day, group_id, type, network, actor, source, device, country, browser, os, referrer_host;

CREATE TABLE IF NOT EXISTS traffic_15m (
    t DateTime,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    source Enum8('beacon' = 1, 'pixel' = 2, 'api' = 3),
    device Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4),
    country {{.Dict}},
    browser {{.Dict}},
    os {{.Dict}},
    referrer_host {{.Dict}},
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(t)
ORDER BY (group_id, t, type, network, actor, source, device, country, browser, os, referrer_host);

INSERT INTO traffic_15m (t, group_id, type, network, actor, source, device, country, browser, os, referrer_host, events, visitors)
SELECT
    toStartOfFifteenMinutes(time) AS t,
    group_id,
    type,
    network,
    actor,
    source,
    device,
    country,
    browser,
    os,
    referrer_host,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM traffic_15m) = 0
GROUP BY t, group_id, type, network, actor, source, device, country, browser, os, referrer_host;

CREATE MATERIALIZED VIEW IF NOT EXISTS traffic_15m_mv TO traffic_15m AS
SELECT
    toStartOfFifteenMinutes(time) AS t,
    group_id,
    type,
    network,
    actor,
    source,
    device,
    country,
    browser,
    os,
    referrer_host,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY t, group_id, type, network, actor, source, device, country, browser, os, referrer_host;

CREATE TABLE IF NOT EXISTS credential_traffic_15m (
    t DateTime,
    credential String,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    source Enum8('beacon' = 1, 'pixel' = 2, 'api' = 3),
    device Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4),
    country {{.Dict}},
    browser {{.Dict}},
    os {{.Dict}},
    referrer_host {{.Dict}},
    events UInt64,
    visitors AggregateFunction(uniq, UInt64)
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(t)
ORDER BY (credential, t, group_id, type, network, actor, source, device, country, browser, os, referrer_host);

INSERT INTO credential_traffic_15m (t, credential, group_id, type, network, actor, source, device, country, browser, os, referrer_host, events, visitors)
SELECT
    toStartOfFifteenMinutes(time) AS t,
    credential,
    group_id,
    type,
    network,
    actor,
    source,
    device,
    country,
    browser,
    os,
    referrer_host,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM credential_traffic_15m) = 0
GROUP BY t, credential, group_id, type, network, actor, source, device, country, browser, os, referrer_host;

CREATE MATERIALIZED VIEW IF NOT EXISTS credential_traffic_15m_mv TO credential_traffic_15m AS
SELECT
    toStartOfFifteenMinutes(time) AS t,
    credential,
    group_id,
    type,
    network,
    actor,
    source,
    device,
    country,
    browser,
    os,
    referrer_host,
    count() AS events,
    uniqState(visitor) AS visitors
FROM events
WHERE bot_reason = ''
GROUP BY t, credential, group_id, type, network, actor, source, device, country, browser, os, referrer_host;
