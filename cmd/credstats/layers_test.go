package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/credstats/credstats"

// layer places a package: the composition root at the top (cmd, bench),
// the features it wires below it, and the libraries they share at the
// bottom.
func layer(pkg string) (name string, rank int) {
	p := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	switch first, _, _ := strings.Cut(p, "/"); first {
	case "cmd", "bench", "test":
		return first, 3
	case "collector", "aggregator", "dashboard", "compat", "lifecycle":
		return first, 2
	}
	return p, 1
}

// A feature may use another only where it is written here: the dashboard
// draws what the query engine answers, and the compatible APIs speak
// through the collector and the public counters.
var featureUses = map[string][]string{
	"dashboard": {"aggregator"},
	"compat":    {"collector", "aggregator"},
}

// TestNoUpwardImports fails when a package imports one from its own layer
// or above that it may not: a library that knows a feature, a feature that
// knows the composition root or a feature it does not serve.
func TestNoUpwardImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		from, fromRank := layer(fields[0])
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			checked++
			to, toRank := layer(imp)
			switch {
			case toRank > fromRank:
				t.Errorf("%s imports %s, a layer above it", fields[0], imp)
			case toRank == 2 && fromRank == 2 && from != to && !slices.Contains(featureUses[from], to):
				t.Errorf("%s imports the feature %s; features meet in cmd/credstats", fields[0], imp)
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list showed no imports inside the module")
	}
}
