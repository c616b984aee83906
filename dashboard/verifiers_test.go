package dashboard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/dashboard"
	"github.com/credstats/credstats/internal/registry"
)

// TestVerifiersCard: verifications by where the verifier came from (an
// applicant tracking system, a mail client...) and by country, and on a
// credential's page how long after its issue it was first verified.
func TestVerifiersCard(t *testing.T) {
	e := newEnv(t, dashboard.Options{})
	ctx := context.Background()
	b, err := e.conn.PrepareBatch(ctx, `INSERT INTO events (id, time, credential, group_id, type, network, actor, source, visitor,
	url_host, url_path, referrer_host, referrer_path, country, browser, os, device, bot_reason)`)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Now().Add(-50 * time.Hour).UTC()
	for i, x := range []struct{ ref, country string }{
		{"boards.greenhouse.io", "US"}, {"acme.wd5.myworkdayjobs.com", "US"}, {"mail.google.com", "DE"}, {"", "DE"}, {"www.linkedin.com", "FR"},
	} {
		if err := b.Append(uuid.New(), first.Add(time.Duration(i)*time.Hour), "ver-1", "g9", "verify", "", "guest", "beacon", uint64(i+1),
			"certs.example.org", "/c/ver-1", x.ref, "/", x.country, "Chrome", "Linux", "desktop", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	waitForEvents(t, e, seeded+5)
	issued := first.Add(-10 * 24 * time.Hour)
	if err := (registry.Store{Conn: e.conn}).Put(ctx, []registry.Entry{{ID: "ver-1", Name: "Verified one", IssuedAt: &issued, Status: registry.Valid}}); err != nil {
		t.Fatal(err)
	}
	cookie := marketer(t, e)
	r := e.get("/dashboard/credentials/ver-1/sections/verifiers?range=all", cookie)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	for _, want := range []string{
		`<th scope="row">Job and HR platforms</th><td class="num" data-label="Verifications">2</td>`,
		`<th scope="row">E-mail</th><td class="num" data-label="Verifications">1</td>`,
		`<th scope="row">Social networks and chats</th><td class="num" data-label="Verifications">1</td>`,
		`<th scope="row">Direct (no referrer)</th><td class="num" data-label="Verifications">1</td>`,
		`<th scope="row">United States</th><td class="num" data-label="Verifications">2</td>`,
		"First verified " + first.Format("2 Jan 2006") + ", 10 days after its issue on " + issued.Format("2 Jan 2006") + ".",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the card lacks %q:\n%s", want, r.body)
		}
	}
}
