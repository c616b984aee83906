package schema

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// catalogTemplate is what a new migration may write instead of restating
// the catalog: the examples of the package comment, on a copy of a rollup
// with strings of the server's Dict type.
const catalogTemplate = `-- A value added to the network enum reaches every table that stores it.
{{range $t := tables}}{{range $t.Columns}}{{if eq .Name "network"}}
ALTER TABLE {{$t.Name}} MODIFY COLUMN network {{enum "network"}};
{{- end}}{{end}}{{end}}

-- A rollup is created, filled and fed.
{{with rollup "traffic_daily"}}
CREATE TABLE IF NOT EXISTS {{.Name}}_copy (
    {{columns .Columns}}
) ENGINE = SummingMergeTree
PARTITION BY toYYYYMM({{.Grain.Column.Name}})
ORDER BY ({{names .Keys}});

INSERT INTO {{.Name}}_copy ({{names .Columns}})
SELECT
    {{selects .Columns}}
FROM events
WHERE bot_reason = '' AND (SELECT count() FROM {{.Name}}_copy) = 0
GROUP BY {{names .Keys}};

CREATE MATERIALIZED VIEW IF NOT EXISTS {{.Name}}_copy_mv TO {{.Name}}_copy AS
SELECT
    {{selects .Columns}}
FROM events
WHERE bot_reason = ''
GROUP BY {{names .Keys}};
{{end}}

-- The events table's columns, with this server's types.
CREATE TABLE IF NOT EXISTS events_copy (
    {{columns (table "events").Columns}}
) ENGINE = Memory;
`

func TestATemplateRendersTheCatalog(t *testing.T) {
	m := Migration{Version: 999, Name: "999_example.sql", text: catalogTemplate}
	stmts, err := m.Statements(FeaturesFor(18, 16))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/catalog_template.golden", strings.Join(stmts, ";\n\n")+";\n")

	modern, err := m.Statements(FeaturesFor(25, 3))
	if err != nil || !strings.Contains(strings.Join(modern, "\n"), "country LowCardinality(String),") {
		t.Errorf("on 25.3: %v\n%s", err, strings.Join(modern, "\n"))
	}
	for _, bad := range []string{`{{enum "country"}}`, `{{rollup "events"}}`, `{{table "nope"}}`} {
		if _, err := (Migration{Name: "bad.sql", text: bad}).Statements(FeaturesFor(18, 16)); err == nil {
			t.Errorf("%s rendered without an error", bad)
		}
	}
}

// golden compares what a test rendered with its golden file, which
// -update rewrites.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("rendered\n%s\nwant (%s; -update rewrites it)\n%s", got, path, want)
	}
}
