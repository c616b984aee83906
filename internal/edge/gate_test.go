package edge_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/credstats/credstats/internal/edge"
	"github.com/credstats/credstats/internal/testutil/fakeclock"
)

func TestClientIP(t *testing.T) {
	gate, err := edge.NewGate(edge.GateOptions{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1"}})
	if err != nil {
		t.Fatal(err)
	}
	f := func(peer, xff, want string) {
		t.Helper()
		if got := gate.ClientIP(netip.MustParseAddr(peer), xff); got != netip.MustParseAddr(want) {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", peer, xff, got, want)
		}
	}
	f("198.51.100.9", "203.0.113.5", "198.51.100.9")      // untrusted peer: header ignored
	f("192.0.2.1", "203.0.113.5", "203.0.113.5")          // trusted proxy
	f("10.1.2.3", "203.0.113.5, 10.9.9.9", "203.0.113.5") // a chain of trusted proxies
	f("10.1.2.3", "6.6.6.6, 203.0.113.5", "203.0.113.5")  // a client's own made-up entries are skipped
	f("10.1.2.3", "", "10.1.2.3")                         // no header
	f("10.1.2.3", "garbage", "10.1.2.3")                  // unparsable
	f("::ffff:192.0.2.1", "2001:db8::1", "2001:db8::1")   // mapped IPv4 peer
	f("10.1.2.3", "10.0.0.1, 10.0.0.2", "10.0.0.1")       // all trusted: leftmost
	f("10.1.2.3", "203.0.113.5:4711", "203.0.113.5")      // with a port
	f("10.1.2.3", "[2001:db8::7]:443", "2001:db8::7")     // IPv6 with a port
	f("10.1.2.3", "[2001:db8::7]", "2001:db8::7")         // IPv6 in brackets
	f("10.1.2.3", "6.6.6.6,203.0.113.5:1, 10.0.0.9:80", "203.0.113.5")
	f("10.1.2.3", "fe80::1%eth0", "10.1.2.3") // a zone is no client address
	if _, err := edge.NewGate(edge.GateOptions{TrustedProxies: []string{"not-an-ip"}}); err == nil {
		t.Error("a bad trusted proxy was accepted")
	}
	if err := edge.CheckTrustedProxies([]string{"192.0.2.0/24", "2001:db8::1", "10.0.0.0/33"}); err == nil {
		t.Error("CheckTrustedProxies took a bad range")
	}
}

func TestIdentity(t *testing.T) {
	f := func(ip, want string) {
		t.Helper()
		if got := edge.Identity(netip.MustParseAddr(ip)); got != netip.MustParseAddr(want) {
			t.Errorf("Identity(%s) = %s, want %s", ip, got, want)
		}
	}
	f("192.0.2.7", "192.0.2.7")
	f("::ffff:192.0.2.7", "192.0.2.7")
	f("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::")
}

func TestRateLimit(t *testing.T) {
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	refused := 0
	gate, err := edge.NewGate(edge.GateOptions{Rate: 2, Burst: 4, Now: clk.Now, Refused: func() { refused++ }})
	if err != nil {
		t.Fatal(err)
	}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	allowed := 0
	for range 10 {
		if gate.Allow(a) {
			allowed++
		}
	}
	if allowed != 4 || refused != 6 {
		t.Errorf("%d allowed and %d refused in a burst, want 4 and 6", allowed, refused)
	}
	if !gate.Allow(b) {
		t.Error("another address was limited")
	}
	clk.Set(clk.Now().Add(time.Second))
	if !gate.Allow(a) || !gate.Allow(a) || gate.Allow(a) {
		t.Error("a second refilled other than 2 tokens")
	}
}

// FuzzClientIP feeds X-Forwarded-For values from clients to the gate: the
// answer is always the peer, a trusted proxy, or an address that appears
// in the header.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"203.0.113.5", "6.6.6.6, 203.0.113.5, 10.0.0.9", "[2001:db8::7]:443", "203.0.113.5:80",
		"garbage", ",,,", "10.0.0.1, 10.0.0.2", "::ffff:1.2.3.4", "[::1", "1.2.3.4:99999", "fe80::1%eth0"} {
		f.Add(s)
	}
	gate, err := edge.NewGate(edge.GateOptions{TrustedProxies: []string{"10.0.0.0/8"}})
	if err != nil {
		f.Fatal(err)
	}
	peer := netip.MustParseAddr("10.1.2.3")
	f.Fuzz(func(t *testing.T, xff string) {
		got := gate.ClientIP(peer, xff)
		if !got.IsValid() || got.Zone() != "" {
			t.Fatalf("%q gave %v", xff, got)
		}
		if got == peer || got.Is4() && strings.Contains(xff, got.String()) {
			return
		}
		if got.Is6() && !strings.Contains(strings.ToLower(xff), ":") {
			t.Fatalf("%q gave the IPv6 address %v", xff, got)
		}
	})
}
