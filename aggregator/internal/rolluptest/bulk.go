package rolluptest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/credstats/credstats/internal/testutil/chtest"
)

// seedBulk has ClickHouse make n events itself, over the 90 days before
// end: one credential per hundred events, fifty groups, one in twenty a
// crawler's.
const seedBulk = InsertEvents + `
SELECT
	generateUUIDv4(),
	toDateTime(? - intHash32(number) % (90 * 86400)),
	concat('cred-', toString(intHash64(number) % ?) AS c),
	concat('prog-', toString(intHash64(number) % ? % 50)),
	arrayElement(['view', 'view', 'view', 'view', 'view', 'share', 'share', 'download', 'verify', 'linkedin_add', 'link_copy'], 1 + intHash32(number * 3 + 1) % 11) AS typ,
	if(typ = 'share', arrayElement(['linkedin', 'twitter', 'facebook', 'messenger', 'whatsapp', 'pinterest', 'telegram', 'weibo', 'email', 'other'], 1 + intHash32(number * 5 + 2) % 10), ''),
	if(intHash32(number * 7 + 3) % 5 = 0, 'recipient', 'guest'),
	arrayElement(['beacon', 'beacon', 'pixel', 'api'], 1 + intHash32(number * 11 + 4) % 4),
	intHash64(number * 13 + 5) % ?,
	'certs.example.org', concat('/c/', c),
	arrayElement(['', 'www.linkedin.com', 't.co', 'mail.google.com', 'example.org'], 1 + intHash32(number * 17 + 6) % 5), '/',
	arrayElement(['', 'US', 'DE', 'IN', 'NP', 'BR', 'FR', 'GB'], 1 + intHash32(number * 19 + 7) % 8),
	arrayElement(['Chrome', 'Firefox', 'Safari', 'Edge'], 1 + intHash32(number * 23 + 8) % 4),
	arrayElement(['Windows', 'macOS', 'Linux', 'Android', 'iOS'], 1 + intHash32(number * 29 + 9) % 5),
	arrayElement(['desktop', 'mobile', 'tablet', 'unknown'], 1 + intHash32(number * 31 + 10) % 4),
	if(intHash32(number * 37 + 11) % 20 = 0, 'crawler', '')
FROM numbers(?)`

// Bulk runs f for each size of CREDSTATS_BENCH_EVENTS (1M and 10M
// events by default, "1000000,10000000"), on a fresh database that
// ClickHouse has filled itself (seedBulk) and merged. cred spreads the
// runs of a benchmark over the credentials.
func Bulk(b *testing.B, f func(b *testing.B, conn driver.Conn, cred func(i int) string)) {
	sizes := "1000000,10000000"
	if s := os.Getenv("CREDSTATS_BENCH_EVENTS"); s != "" {
		sizes = s
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			b.Fatalf("CREDSTATS_BENCH_EVENTS: %v", err)
		}
		b.Run("events="+short(n), func(b *testing.B) {
			_, conn := chtest.New(b)
			credentials := max(n/100, 1)
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			defer cancel()
			if err := conn.Exec(ctx, seedBulk, Now.Unix(), credentials, credentials, n/5, n); err != nil {
				b.Fatal(err)
			}
			Wait(b, conn)
			seeded := time.Since(start)
			// Historical data has been merged in the background: measure
			// that, not the parts one bulk insert leaves.
			start = time.Now()
			for _, t := range rollupTables {
				if err := conn.Exec(ctx, "OPTIMIZE TABLE "+t+" FINAL"); err != nil {
					b.Fatal(err)
				}
			}
			b.Logf("seeded %d events in %v, merged in %v; rows: %s", n, seeded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), rollupRows(b, conn))
			f(b, conn, func(i int) string { return fmt.Sprintf("cred-%d", (i*7919)%credentials) })
		})
	}
}

func short(n int) string {
	switch {
	case n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func rollupRows(b *testing.B, conn driver.Conn) string {
	var out []string
	for _, t := range append([]string{"events"}, rollupTables...) {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+t).Scan(&n); err != nil {
			b.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", t, n))
	}
	return strings.Join(out, " ")
}
