package collector

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/credstats/credstats/internal/spool"
)

// FuzzReadCoverage reads arbitrary bytes as the dedup snapshot's coverage
// file. A position it takes must survive being written and read again, as
// must every position the collector writes; and files written before the
// position was stored as a spool.Pos, with lower-case names, keep reading
// as the same position.
func FuzzReadCoverage(f *testing.F) {
	dir := f.TempDir()
	written := filepath.Join(dir, "written.pos")
	for _, p := range []spool.Pos{{}, {Seg: 1, Off: 12}, {Seg: 7, Off: 4 << 20}, {Seg: math.MaxUint64, Off: math.MinInt64}} {
		if err := writeFileAtomic(written, p); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(written)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, p.Seg, p.Off)
	}
	f.Add([]byte(`{"seg":3,"off":1024}`), uint64(3), int64(1024))
	f.Add([]byte(`null`), uint64(0), int64(0))
	f.Add([]byte(`{"Seg":-1,"Off":1e3}`), uint64(0), int64(0))

	given := filepath.Join(dir, "given.pos")
	f.Fuzz(func(t *testing.T, b []byte, seg uint64, off int64) {
		if err := os.WriteFile(given, b, 0o600); err != nil {
			t.Fatal(err)
		}
		read := func(want spool.Pos) {
			t.Helper()
			if err := writeFileAtomic(written, want); err != nil {
				t.Fatal(err)
			}
			if got, ok := readCoverage(written); !ok || got != want {
				t.Fatalf("wrote %v, read back %v, %t", want, got, ok)
			}
		}
		if p, ok := readCoverage(given); ok {
			read(p)
		}
		p := spool.Pos{Seg: seg, Off: off}
		read(p)
		old := fmt.Appendf(nil, `{"seg":%d,"off":%d}`, seg, off)
		if err := os.WriteFile(given, old, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, ok := readCoverage(given); !ok || got != p {
			t.Fatalf("the earlier format %s reads as %v, %t", old, got, ok)
		}
	})
}
