package unfurl_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/event"
	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/internal/unfurl"
)

func TestRecordedUnfurlsCountOncePerCredentialNetworkAndHour(t *testing.T) {
	_, conn := chtest.New(t)
	ctx := context.Background()
	r := unfurl.NewRecorder(unfurl.Options{Conn: conn, Flush: 10 * time.Millisecond})
	h := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, u := range []unfurl.Unfurl{
		{Time: h, Credential: "c1", Network: event.LinkedIn, Crawler: "LinkedInBot"},
		{Time: h.Add(10 * time.Minute), Credential: "c1", Network: event.LinkedIn, Crawler: "LinkedInBot"},
		{Time: h.Add(70 * time.Minute), Credential: "c1", Network: event.LinkedIn, Crawler: "LinkedInBot"},
		{Time: h, Credential: "c1", Network: event.Other, Crawler: "Slackbot"},
		{Time: h, Credential: "c2", Network: event.LinkedIn, Crawler: "LinkedInBot"},
	} {
		if !r.Record(u) {
			t.Fatal("refused")
		}
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Another process (a restart) may write the same hour again: counting
	// still takes it once.
	again := unfurl.NewRecorder(unfurl.Options{Conn: conn})
	again.Record(unfurl.Unfurl{Time: h.Add(5 * time.Minute), Credential: "c1", Network: event.LinkedIn, Crawler: "LinkedInBot"})
	if err := again.Close(ctx); err != nil {
		t.Fatal(err)
	}
	f := func(credential string, want map[string]float64) {
		t.Helper()
		got, err := unfurl.Counts(ctx, conn, credential, h.Add(-time.Hour), h.Add(3*time.Hour))
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("Counts(%q) = %v (%v), want %v", credential, got, err, want)
		}
	}
	f("c1", map[string]float64{"linkedin": 2, "other": 1})
	f("c2", map[string]float64{"linkedin": 1})
	f("", map[string]float64{"linkedin": 3, "other": 1})
	f("c3", map[string]float64{})
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM unfurls").Scan(&rows); err != nil || rows != 5 {
		t.Errorf("%d rows stored (%v), want 5: repeats within the hour are written once", rows, err)
	}
}

// TestCloseReportsWhatItCouldNotWrite: with ClickHouse gone, Close
// returns at once with the loss, not after its context.
func TestCloseReportsWhatItCouldNotWrite(t *testing.T) {
	_, conn := chtest.New(t)
	r := unfurl.NewRecorder(unfurl.Options{Conn: conn, Flush: time.Hour})
	r.Record(unfurl.Unfurl{Time: time.Now(), Credential: "c1", Network: event.LinkedIn, Crawler: "LinkedInBot"})
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.Close(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("Close = %v (context: %v), want the lost batch's error before the context ends", err, ctx.Err())
	}
	empty := unfurl.NewRecorder(unfurl.Options{Conn: conn})
	done, stop := context.WithCancel(context.Background())
	stop()
	if err := empty.Close(done); err != nil {
		t.Errorf("Close of an empty recorder after its context ended = %v, want nil", err)
	}
}
