-- Events brought in by `credstats import` have the source 'import': every
-- table that stores the source learns the new value (an Enum8 that only
-- gains a value is changed in its metadata, not rewritten).
{{range $t := tables}}{{range $t.Columns}}{{if eq .Name "source"}}
ALTER TABLE {{$t.Name}} MODIFY COLUMN source {{enum "source"}};
{{- end}}{{end}}{{end}}
