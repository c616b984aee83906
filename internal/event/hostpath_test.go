package event

import (
	"net/url"
	"strings"
	"testing"
)

// parsedHostPath is hostPath by url.Parse alone, which plainHostPath must
// agree with wherever it answers.
func parsedHostPath(s string) (host, path string, ok bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", false
	}
	host = strings.ToLower(u.Hostname())
	if !validHost(host) {
		return "", "", false
	}
	if path = u.EscapedPath(); path == "" {
		path = "/"
	}
	return host, path, true
}

var hostPathSeeds = []string{
	"https://certs.example.org/c/abc",
	"http://Certs.Example.ORG/C/x?utm=1#top",
	"https://www.linkedin.com/feed/",
	"https://a.b",
	"https://a.b?q",
	"https://a.b#f",
	"https://a.b#%zz",
	"https://a.b/p#%41",
	"https://a.b/%41",
	"https://a.b/a b",
	"https://a.b/a%20b",
	"https://a.b/~user/$&+,;=:@/x",
	"https://a.b/(x)!*'",
	"https://a.b:8080/x",
	"https://user@a.b/x",
	"https://[::1]/x",
	"https:///x",
	"https://",
	"HTTPS://a.b/x",
	"ftp://a.b/x",
	"https://a_b.example/x",
	"https://a.b/x?\x01",
	"https://a.b/x\x7f",
	"https://a.b//double/../dots/./",
	"https://xn--bcher-kva.example/",
	"https://bücher.example/",
	"https://a.b/ü",
	"https://a.b/x?y#z?w",
	"https://a.b/x#y?z",
	"http://-/.",
}

func TestPlainHostPathAgreesWithURLParse(t *testing.T) {
	fast := 0
	for _, s := range hostPathSeeds {
		if checkPlainHostPath(t, s) {
			fast++
		}
	}
	if fast == 0 {
		t.Fatal("no seed took the fast path")
	}
}

func FuzzPlainHostPath(f *testing.F) {
	for _, s := range hostPathSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkPlainHostPath(t, s) })
}

func checkPlainHostPath(t *testing.T, s string) (fast bool) {
	t.Helper()
	host, path, ok := plainHostPath(s)
	if !ok {
		return false
	}
	wantHost, wantPath, wantOK := parsedHostPath(s)
	if !wantOK || host != wantHost || path != wantPath {
		t.Errorf("plainHostPath(%q) = %q, %q; url.Parse gives %q, %q, %v", s, host, path, wantHost, wantPath, wantOK)
	}
	return true
}

func BenchmarkHostPath(b *testing.B) {
	const s = "https://certs.example.org/c/01hrsvjp560yksep2a3bek3z97?utm_source=linkedin"
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			hostPath("url", s)
		}
	})
	b.Run("url.Parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parsedHostPath(s)
		}
	})
}
