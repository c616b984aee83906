package dashboard

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

// TestPrecompressedAssets: a gzip shipped beside an asset (make echarts
// writes echarts.min.js.gz) unpacks to that asset exactly, so no browser is
// sent a stale script.
func TestPrecompressedAssets(t *testing.T) {
	entries, err := assetFS.ReadDir("assets")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".gz")
		if !ok {
			continue
		}
		a := assets[name]
		if a == nil {
			t.Errorf("%s has no asset %s beside it", e.Name(), name)
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(a.gzipped))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		if !bytes.Equal(got, a.body) {
			t.Errorf("%s does not unpack to %s: run make echarts", e.Name(), name)
		}
	}
	if _, ok := assets["echarts.min.js.gz"]; ok {
		t.Error("a .gz twin is served as an asset of its own")
	}
}
