package demo

import (
	"bytes"
	"errors"
	"html"
	"regexp"
	"strings"
	"testing"
)

var (
	startTag  = regexp.MustCompile(`<([a-zA-Z]+)((?:\s+[a-zA-Z:-]+(?:="[^"]*")?)*)\s*/?>`)
	attribute = regexp.MustCompile(`([a-zA-Z:-]+)(?:="([^"]*)")?`)
)

type tag struct {
	name  string
	attrs map[string]string
}

// tags returns the start tags of an HTML document with unescaped attribute values.
func tags(t *testing.T, doc string) []tag {
	t.Helper()
	var out []tag
	for _, m := range startTag.FindAllStringSubmatch(doc, -1) {
		tg := tag{name: m[1], attrs: map[string]string{}}
		for _, a := range attribute.FindAllStringSubmatch(m[2], -1) {
			tg.attrs[a[1]] = html.UnescapeString(a[2])
		}
		out = append(out, tg)
	}
	return out
}

func render(t *testing.T, p Page) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRenderEmbedsBeacon(t *testing.T) {
	f := func(p Page) {
		t.Helper()
		var scripts []tag
		for _, tg := range tags(t, render(t, p)) {
			if tg.name == "script" && tg.attrs["src"] != "" {
				scripts = append(scripts, tg)
			}
		}
		if len(scripts) != 1 {
			t.Fatalf("%+v: %d external scripts, want 1", p, len(scripts))
		}
		s := scripts[0].attrs
		if _, ok := s["defer"]; !ok {
			t.Errorf("%+v: beacon script is not deferred", p)
		}
		if s["src"] != p.BeaconSrc || s["data-credential"] != p.Credential || s["data-group"] != p.Group {
			t.Errorf("%+v: script attributes %v", p, s)
		}
	}
	f(Page{Credential: "demo-1", Group: "cloud-2025", BeaconSrc: "/beacon.js"})
	f(Page{Credential: "a.b:c_d-1", BeaconSrc: "https://stats.example.org/beacon.js"})
	f(Page{Credential: `x"><script>alert(1)</script>`, Group: "g&<", BeaconSrc: "/beacon.js"})
}

func TestRenderEscapes(t *testing.T) {
	doc := render(t, Page{Credential: `"><script>alert(1)</script>`, BeaconSrc: "/beacon.js"})
	if strings.Contains(doc, "<script>alert(1)") {
		t.Error("credential is not escaped")
	}
}

func TestRenderMarksEveryAction(t *testing.T) {
	want := map[string]bool{
		"download": true, "verify": true, "linkedin_add": true, "link_copy": true,
		"share/linkedin": true, "share/twitter": true, "share/facebook": true, "share/messenger": true,
		"share/whatsapp": true, "share/pinterest": true, "share/telegram": true, "share/weibo": true,
		"share/email": true, "share/other": true,
	}
	got := map[string]int{}
	for _, tg := range tags(t, render(t, Page{Credential: "demo-1", BeaconSrc: "/beacon.js"})) {
		kind, ok := tg.attrs["data-credstats"]
		if !ok {
			continue
		}
		network, hasNetwork := tg.attrs["data-network"]
		if hasNetwork != (kind == "share") {
			t.Errorf("%s data-credstats=%q has data-network=%q", tg.name, kind, network)
		}
		if kind == "share" {
			kind += "/" + network
		}
		got[kind]++
		// A marked element must not leave the page: the demo shows what
		// would happen instead of opening third-party sites.
		if href, ok := tg.attrs["href"]; (ok && href != "#") || (tg.name == "button" && tg.attrs["type"] != "button") {
			t.Errorf("%s %q can navigate away: %v", tg.name, kind, tg.attrs)
		}
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("%q is marked %d times, want once", k, got[k])
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("unexpected marked action %q", k)
		}
	}
}

func TestRenderLoadsNothingExternal(t *testing.T) {
	doc := render(t, Page{Credential: "demo-1", BeaconSrc: "/beacon.js"})
	all := tags(t, doc)
	if n := strings.Count(doc, "<") - strings.Count(doc, "</") - strings.Count(doc, "<!"); len(all) < n*9/10 {
		t.Fatalf("parsed %d start tags of about %d: the test's tag pattern misses some", len(all), n)
	}
	for _, ref := range []string{"url(http", "url(//", "@import"} {
		if strings.Contains(doc, ref) {
			t.Errorf("the style loads from elsewhere: %q", ref)
		}
	}
	for _, tg := range all {
		for _, name := range []string{"src", "href", "xlink:href", "action", "poster", "srcset"} {
			v, ok := tg.attrs[name]
			if !ok || v == "#" || strings.HasPrefix(v, "/") || strings.HasPrefix(v, "data:") {
				continue
			}
			t.Errorf("<%s %s=%q> may load from elsewhere", tg.name, name, v)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestRenderReportsWriteErrors(t *testing.T) {
	if err := Render(failingWriter{}, Page{Credential: "demo-1"}); err == nil {
		t.Error("Render into a failing writer returned nil")
	}
}
