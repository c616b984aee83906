package collector_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/credstats/credstats/collector"
	"github.com/credstats/credstats/internal/edge"
)

// beaconApp serves the collector's routes as credstats does: Immutable,
// with the error envelope.
func beaconApp(t *testing.T, o collector.Options) (*fiber.App, *memSink, func()) {
	t.Helper()
	sink := &memSink{}
	o.NoSpool = true
	c := newCollector(t, sink, o)
	closed := false
	closeOnce := func() {
		if !closed {
			closed = true
			closeOK(t, c)
		}
	}
	t.Cleanup(closeOnce)
	app := fiber.New(fiber.Config{Immutable: true, ErrorHandler: edge.ErrorHandler(slog.New(slog.DiscardHandler))})
	c.Routes(app)
	return app, sink, closeOnce
}

func postBeacon(t *testing.T, app *fiber.App, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/event", bytes.NewReader(body))
	req.Header.Set("User-Agent", chrome)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestBeaconContentTypes(t *testing.T) {
	app, _, _ := beaconApp(t, collector.Options{RateLimit: -1})
	body := []byte(`{"credential":"c-1","type":"view"}`)
	f := func(contentType string, want int) {
		t.Helper()
		code, answer := postBeacon(t, app, body, map[string]string{"Content-Type": contentType})
		if code != want {
			t.Errorf("Content-Type %q: %d %s, want %d", contentType, code, answer, want)
		}
		if want == fiber.StatusBadRequest && !strings.Contains(answer, `"code":"invalid_request"`) {
			t.Errorf("Content-Type %q: %s is not the error envelope", contentType, answer)
		}
	}
	f("", fiber.StatusAccepted)
	f("text/plain", fiber.StatusAccepted)
	f("text/plain;charset=UTF-8", fiber.StatusAccepted)
	f("Application/JSON; charset=utf-8", fiber.StatusAccepted)
	f(" application/json ", fiber.StatusAccepted)
	f("text/html", fiber.StatusBadRequest)
	f("application/jsonx", fiber.StatusBadRequest)
	f("application/x-www-form-urlencoded", fiber.StatusBadRequest)
	// U+017F folds to 's' in Unicode, not in ASCII: refused as before.
	f("application/j\u017fon", fiber.StatusBadRequest)
}

// TestBeaconEncodedBody sends a compressed body, which the route decodes
// as Fiber does, and checks the event's strings outlive the request.
func TestBeaconEncodedBody(t *testing.T) {
	app, sink, closeCollector := beaconApp(t, collector.Options{RateLimit: -1})
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(`{"credential":"gzipped-1","type":"view","url":"https://certs.example.org/c/gzipped-1"}`))
	w.Close()
	code, answer := postBeacon(t, app, gz.Bytes(), map[string]string{"Content-Type": "text/plain", "Content-Encoding": "gzip"})
	if code != fiber.StatusAccepted {
		t.Fatalf("gzip body: %d %s", code, answer)
	}
	for i := range 50 {
		body := []byte(`{"credential":"plain-` + strings.Repeat("x", i) + `","type":"view","url":"https://certs.example.org/c/plain"}`)
		if code, answer := postBeacon(t, app, body, nil); code != fiber.StatusAccepted {
			t.Fatalf("plain body: %d %s", code, answer)
		}
	}
	closeCollector()
	got := map[string]string{}
	for _, e := range sink.stored() {
		got[e.Credential] = e.URLHost + e.URLPath
	}
	if got["gzipped-1"] != "certs.example.org/c/gzipped-1" {
		t.Errorf("the gzipped event was stored as %q", got["gzipped-1"])
	}
	for i := range 50 {
		if got["plain-"+strings.Repeat("x", i)] != "certs.example.org/c/plain" {
			t.Fatalf("event %d: stored %v", i, got)
		}
	}
}

// TestBeaconClientAndRateLimit checks that the route takes the client from
// X-Forwarded-For only through a trusted proxy, and holds that client to
// its rate.
func TestBeaconClientAndRateLimit(t *testing.T) {
	app, sink, closeCollector := beaconApp(t, collector.Options{RateLimit: 1, RateBurst: 2, TrustedProxies: []string{"0.0.0.0/0"}})
	post := func(credential, xff string) int {
		code, _ := postBeacon(t, app, []byte(`{"credential":"`+credential+`","type":"view"}`), map[string]string{"X-Forwarded-For": xff})
		return code
	}
	for i, want := range []int{202, 202, 429} {
		if got := post("a-"+string(rune('0'+i)), "203.0.113.9"); got != want {
			t.Errorf("request %d from 203.0.113.9: %d, want %d", i, got, want)
		}
	}
	if got := post("b", "198.51.100.1, 203.0.113.10"); got != 202 {
		t.Errorf("another client: %d, want 202", got)
	}
	code, answer := postBeacon(t, app, []byte(`{"credential":"c","type":"view"}`), map[string]string{"X-Forwarded-For": "203.0.113.9"})
	var envelope struct {
		Error struct{ Code string } `json:"error"`
	}
	if code != 429 || json.Unmarshal([]byte(answer), &envelope) != nil || envelope.Error.Code != "rate_limited" {
		t.Errorf("over the rate: %d %s, want 429 rate_limited", code, answer)
	}
	closeCollector()
	if n := len(sink.stored()); n != 3 {
		t.Errorf("%d events stored, want 3", n)
	}
}
