-- Unique viewers count the people whose browsers sent events: events of
-- the authenticated API come from an integrator's servers and have no
-- visitor (0), so every view is fed again with uniqStateIf(visitor,
-- visitor != 0). Counts are unchanged. The states already stored keep what
-- they counted: an API event stored before this migration counted its
-- integrator's address as one viewer of its day. Events inserted between a
-- view's drop and its creation are missed by that table, as 004 says:
-- migrate before ingesting.
{{range fed}}
DROP TABLE IF EXISTS {{.Name}}_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Name}}_mv TO {{.Name}} AS
SELECT
    {{selects .Columns}}
FROM events
WHERE bot_reason = ''
GROUP BY {{names .Keys}};
{{end}}
