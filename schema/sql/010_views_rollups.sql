-- Views apart: the 30-day series of unique viewers merged one state for
-- every type, network and actor of each day (some 30 a day, most of them
-- not views, all read and decoded); these rollups keep the views alone,
-- one state a day site-wide and a day per group, so a series of views and
-- unique viewers merges one state a step (see Rollup.ViewsOnly in
-- internal/catalog). Their type column is always 'view' (Table.Filter).
-- They are filled from the events already stored, then fed by their
-- views; see 004 for times and backfill.
{{define "views only"}}
CREATE TABLE IF NOT EXISTS {{.Name}} (
    {{columns .Columns}}
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY ({{names .Keys}});

INSERT INTO {{.Name}} ({{names .Columns}})
SELECT
    {{selects .Columns}}
FROM events
WHERE bot_reason = '' AND {{.Table.Filter}} AND (SELECT count() FROM {{.Name}}) = 0
GROUP BY {{names .Keys}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Name}}_mv TO {{.Name}} AS
SELECT
    {{selects .Columns}}
FROM events
WHERE bot_reason = '' AND {{.Table.Filter}}
GROUP BY {{names .Keys}};
{{end}}
{{template "views only" rollup "views_daily"}}
{{template "views only" rollup "group_views_daily"}}
