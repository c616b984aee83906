package lifecycle_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/testutil/chtest"
	"github.com/credstats/credstats/lifecycle"
)

const eventsFile = `{"credential": "cred-1", "type": "view", "group": "spring", "time": "2024-03-01T10:00:00Z", "url": "https://certs.example.org/c/1?token=secret"}
{"credential": "cred-1", "type": "view", "group": "spring", "time": "2024-03-01T10:00:00Z", "url": "https://certs.example.org/c/1?token=secret"}
{"credential": "cred-1", "type": "share", "network": "linkedin", "actor": "recipient", "group": "spring", "time": "2024-03-02T08:30:00+02:00"}

{"credential": "cred-2", "date": "2024-04-10", "info": {"stats": {"views": 120, "shares": {"linkedin": 3, "x": 2, "copy": 4}, "downloads": 5, "linkedin_adds": 1}}}
`

// The first three events of eventsFile, in CSV.
const eventsCSV = "credential,type,network,actor,group,url,time\r\n" +
	"cred-1,view,,,spring,https://certs.example.org/c/1,2024-03-01T10:00:00Z\r\n" +
	"cred-1,view,,,spring,https://certs.example.org/c/1,2024-03-01T10:00:00Z\r\n" +
	"cred-1,share,linkedin,recipient,spring,,2024-03-02T06:30:00Z\r\n"

func importer(now time.Time) lifecycle.Importer {
	return lifecycle.Importer{Now: func() time.Time { return now }, BatchSize: 50}
}

// TestImportStoresOnceAndCounts: a file's events and counters reach the
// counters and the query engine with source import; importing it again,
// or the same events as CSV, stores nothing more.
func TestImportStoresOnceAndCounts(t *testing.T) {
	_, conn := chtest.New(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	im := importer(now)
	im.Conn = conn
	sum, err := im.Import(ctx, strings.NewReader(eventsFile))
	if err != nil {
		t.Fatal(err)
	}
	const total = 3 + 120 + 3 + 2 + 4 + 5 + 1
	if sum.Rows != 4 || sum.CounterRows != 1 || sum.Events != total || sum.Stored != total || sum.Present != 0 {
		t.Errorf("first import: %+v", sum)
	}
	if n := count(t, conn, "SELECT count() FROM events WHERE source = 'import' AND visitor = 0 AND batch = ?", sum.Batch); n != total {
		t.Errorf("%d imported events stored, want %d", n, total)
	}
	if n := count(t, conn, "SELECT count() FROM events WHERE url_path = '/c/1' AND url_host = 'certs.example.org'"); n != 2 {
		t.Errorf("%d events kept the page's host and path, want 2", n)
	}

	st := stats(t, conn, "cred-2")
	if st.Views != 120 || st.Shares["linkedin"] != 3 || st.Shares["twitter"] != 2 || st.LinkCopies != 4 || st.Downloads != 5 || st.LinkedInAdds != 1 {
		t.Errorf("counters of the imported counters: %+v", st.Counts)
	}
	if st := stats(t, conn, "cred-1"); st.Views != 2 || st.ByActor["recipient"].Shares["linkedin"] != 1 {
		t.Errorf("counters of the imported events: %+v", st.Counts)
	}
	res := runQuery(t, conn, now, `{"metrics": ["views", "shares"], "dimensions": ["source", "time:month"], "date_range": ["2024-03-01", "2024-04-30"], "order_by": [["time:month", "asc"]]}`)
	if len(res.Results) != 2 || res.Results[0].Dimensions[0] != "import" || res.Results[0].Metrics[0] != 2 || res.Results[0].Metrics[1] != 1 ||
		res.Results[1].Metrics[0] != 120 || res.Results[1].Metrics[1] != 5 {
		t.Errorf("the query engine: %+v", res.Results)
	}

	again, err := im.Import(ctx, strings.NewReader(eventsFile))
	if err != nil || again.Stored != 0 || again.Present != total {
		t.Errorf("the same file again: %+v, %v", again, err)
	}
	csv, err := im.Import(ctx, strings.NewReader(eventsCSV))
	if err != nil || csv.Stored != 0 || csv.Present != 3 {
		t.Errorf("the same events as CSV: %+v, %v", csv, err)
	}
	// A day's counters that grew store only the difference.
	grown := strings.Replace(eventsFile, `"views": 120`, `"views": 125`, 1)
	if more, err := im.Import(ctx, strings.NewReader(grown)); err != nil || more.Stored != 5 {
		t.Errorf("counters that grew by 5 views: %+v, %v", more, err)
	}
	if n := count(t, conn, "SELECT count() FROM events"); n != total+5 {
		t.Errorf("%d events stored in all, want %d", n, total+5)
	}
	if n := count(t, conn, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name LIKE 'lifecycle_%'"); n != 0 {
		t.Errorf("%d staging tables left behind", n)
	}
}

// TestImportRefusesBadFilesWhole: every bad row is reported by its line,
// and nothing of the file is stored.
func TestImportRefusesBadFilesWhole(t *testing.T) {
	_, conn := chtest.New(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	im := importer(now)
	im.Conn = conn
	f := func(name, file string, wantLines ...int) {
		t.Helper()
		_, err := im.Import(ctx, strings.NewReader(file))
		var bad *lifecycle.InvalidFile
		if !errors.As(err, &bad) {
			t.Errorf("%s: %v, want an InvalidFile", name, err)
			return
		}
		var lines []int
		for _, e := range bad.Errors {
			lines = append(lines, e.Line)
		}
		if !slices.Equal(lines, wantLines) {
			t.Errorf("%s: bad lines %v, want %v:\n%v", name, lines, wantLines, err)
		}
	}
	good := `{"credential": "c", "type": "view", "time": "2024-01-01T00:00:00Z"}` + "\n"
	f("ndjson", good+
		`{"credential": "c", "type": "nope", "time": "2024-01-01T00:00:00Z"}`+"\n"+
		good+
		`{"credential": "c", "type": "view", "time": "yesterday"}`+"\n"+
		`{"credential": "c", "type": "view", "time": "2030-01-01T00:00:00Z"}`+"\n"+
		`{"credential": "c", "type": "view"}`+"\n"+
		`not json`+"\n"+
		`{"credential": "c", "info": {"stats": {"views": 3}}}`+"\n"+
		`{"credential": "c", "date": "2024-01-01", "stats": {"shares": {"myspace": 1}}}`+"\n"+
		`{"credential": "c", "date": "2024-01-01", "stats": {"views": 99999999999}}`+"\n"+
		`{"credential": "bad id", "type": "view", "time": "2024-01-01T00:00:00Z"}`+"\n"+
		good,
		2, 4, 5, 6, 7, 8, 9, 10, 11)
	f("csv", "credential,type,time\nc,view,2024-01-01T00:00:00Z\nc,view\nc,share,2024-01-01T00:00:00Z\n", 3, 4)
	f("csv header", "credential,type,when\nc,view,2024-01-01T00:00:00Z\n", 1, 1)
	f("long line", good+`{"credential": "`+strings.Repeat("x", lifecycle.MaxLine)+`"}`+"\n"+good, 2)
	if n := count(t, conn, "SELECT count() FROM events"); n != 0 {
		t.Errorf("%d events stored from bad files", n)
	}
}

// FuzzCheck: no file makes the import parser panic, and a file it takes
// has as many events as its rows say.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(eventsFile))
	f.Add([]byte(eventsCSV))
	f.Add([]byte("credential,type,time\n\"c\",view,2024-01-01T00:00:00Z\n\"unterminated"))
	f.Add([]byte(`{"credential": "c", "date": "2024-01-01", "stats": {"views": 3, "shares": {"copy": 1}}}`))
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		sum, err := lifecycle.Check(strings.NewReader(string(data)), now)
		if err != nil {
			return
		}
		if sum.Events > 0 && (sum.From.After(sum.To) || sum.To.After(now.Add(5*time.Minute))) {
			t.Errorf("events from %v to %v", sum.From, sum.To)
		}
		if sum.CounterRows == 0 && sum.Events != uint64(sum.Rows) {
			t.Errorf("%d event rows made %d events", sum.Rows, sum.Events)
		}
	})
}
