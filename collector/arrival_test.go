package collector_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/testutil/chtest"
)

// TestArrivalsAreStored: ingest fills the arrival and its sharer, and
// they reach ClickHouse through the spool.
func TestArrivalsAreStored(t *testing.T) {
	_, conn := chtest.New(t)
	c := newCollector(t, collector.ClickHouseSink{Conn: conn}, collector.Options{})
	hit := func(credential, typ, network, actor, via, referrer string, source event.Source) {
		t.Helper()
		in := event.Input{Credential: credential, Type: typ, Network: network, Actor: actor, Via: via,
			URL: "https://certs.example.org/c/" + credential, Referrer: referrer}
		if source == event.API {
			in.URL = ""
		}
		if _, err := c.Ingest(collector.Hit{Input: in, Source: source, IP: netip.MustParseAddr("203.0.113.7"), UserAgent: chrome}); err != nil {
			t.Fatal(err)
		}
	}
	hit("tagged", "view", "", "", "linkedin.r", "https://t.co/x", event.Beacon)
	hit("referred", "view", "", "", "", "https://l.facebook.com/l.php", event.Pixel)
	hit("direct", "view", "", "", "", "", event.Beacon)
	hit("own-site", "view", "", "", "", "https://certs.example.org/list", event.Beacon)
	hit("elsewhere", "view", "", "", "", "https://www.google.com/", event.Beacon)
	hit("bad-tag", "view", "", "", "mastodon.r", "", event.Beacon)
	hit("share", "share", "whatsapp", "recipient", "linkedin.g", "", event.Beacon)
	hit("api", "view", "", "", "", "", event.API)
	closeOK(t, c)

	want := map[string][2]string{
		"tagged": {"linkedin", "recipient"}, "referred": {"facebook", ""}, "direct": {"direct", ""},
		"own-site": {"site", ""}, "elsewhere": {"web", ""}, "bad-tag": {"direct", ""},
		"share": {"whatsapp", "recipient"}, "api": {"", ""},
	}
	rows, err := conn.Query(context.Background(), "SELECT credential, toString(arrived_from), toString(shared_by) FROM events")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string][2]string{}
	for rows.Next() {
		var cred, from, by string
		if err := rows.Scan(&cred, &from, &by); err != nil {
			t.Fatal(err)
		}
		got[cred] = [2]string{from, by}
	}
	if len(got) != len(want) {
		t.Errorf("stored %v, want %v", got, want)
	}
	for cred, w := range want {
		if got[cred] != w {
			t.Errorf("%s: arrived from %q, shared by %q; want %q, %q", cred, got[cred][0], got[cred][1], w[0], w[1])
		}
	}
}
