-- One row per accepted event, ordered for per-credential queries.
CREATE TABLE IF NOT EXISTS events (
    id UUID,
    time DateTime,
    credential String,
    group_id String,
    type Enum8('view' = 1, 'share' = 2, 'download' = 3, 'verify' = 4, 'linkedin_add' = 5, 'link_copy' = 6),
    network Enum8('' = 0, 'linkedin' = 1, 'twitter' = 2, 'facebook' = 3, 'messenger' = 4, 'whatsapp' = 5, 'pinterest' = 6, 'telegram' = 7, 'weibo' = 8, 'email' = 9, 'other' = 10),
    actor Enum8('guest' = 1, 'recipient' = 2),
    source Enum8('beacon' = 1, 'pixel' = 2, 'api' = 3),
    visitor UInt64,
    url_host {{.Dict}},
    url_path String,
    referrer_host {{.Dict}},
    referrer_path String,
    country {{.Dict}},
    browser {{.Dict}},
    os {{.Dict}},
    device Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4),
    bot_reason Enum8('' = 0, 'no_user_agent' = 1, 'crawler' = 2, 'headless' = 3, 'not_browser' = 4),
    bot UInt8 MATERIALIZED bot_reason != '',
    -- The spool position of the batch that stored the event (0 without a
    -- spool): a retried batch checks it to store nothing twice.
    batch UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (credential, type, time);
