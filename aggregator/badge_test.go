package aggregator

import "testing"

func TestCompact(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1k", 1234: "1.2k", 9950: "10k", 12_345: "12k", 999_499: "999k", 999_999: "1M", 1_500_000: "1.5M", 2_000_000_000: "2G"} {
		if got := compact(n); got != want {
			t.Errorf("compact(%d) = %s, want %s", n, got, want)
		}
	}
}
