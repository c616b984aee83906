package aggregator_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/credstats/credstats/internal/catalog"
)

// TestEveryMetricMeansTheSameEverywhere: the OpenAPI document and the
// README say what each metric means in the catalog's words, which the
// dashboard shows beside its figures; so a definition changes in one place
// or the test fails.
func TestEveryMetricMeansTheSameEverywhere(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Query struct{ Description string }
			}
		}
	}
	b, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range catalog.Metrics {
		said := "`" + m.Name + "`: " + m.Means + "."
		if !strings.Contains(doc.Components.Schemas.Query.Description, said) {
			t.Errorf("openapi.json does not say %q", said)
		}
		if !strings.Contains(string(readme), "- "+said) {
			t.Errorf("README.md does not say %q", "- "+said)
		}
	}
}
