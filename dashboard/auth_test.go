package dashboard

import "testing"

func TestSafeNext(t *testing.T) {
	f := func(next, want string) {
		t.Helper()
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
	f("", "/dashboard")
	f("/dashboard", "/dashboard")
	f("/dashboard?range=7d&group=g", "/dashboard?range=7d&group=g")
	f("/dashboard/credentials/c1?range=all", "/dashboard/credentials/c1?range=all")
	f("https://evil.example/dashboard", "/dashboard")
	f("//evil.example/dashboard", "/dashboard")
	f("/\\evil.example", "/dashboard")
	f("/demo", "/dashboard")
	f("/dashboardx", "/dashboard")
	f("/dashboard/login?next=/x", "/dashboard")
	f("/dashboard/s/abc.def", "/dashboard")
	f("javascript:alert(1)", "/dashboard")
}
