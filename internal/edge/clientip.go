package edge

import (
	"fmt"
	"net/netip"
	"strings"
)

// proxies are the peers trusted to say who their client is.
type proxies []netip.Prefix

// CheckTrustedProxies reports the first entry of a --trusted-proxies list
// that is not an address or CIDR range.
func CheckTrustedProxies(list []string) error {
	_, err := parseProxies(list)
	return err
}

func parseProxies(list []string) (proxies, error) {
	var p proxies
	for _, s := range list {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR range", s)
			}
			p = append(p, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		pre, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is not an address or CIDR range", s)
		}
		p = append(p, pre.Masked())
	}
	return p, nil
}

func (p proxies) trusted(a netip.Addr) bool {
	for _, pre := range p {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the socket's peer, unless the peer is a trusted proxy: then
// it is the rightmost hop in X-Forwarded-For that is not itself a trusted
// proxy, since everything left of that could be made up by the client.
// forwardedFor is every X-Forwarded-For line of the request joined with
// commas, as RFC 9110 says repeated fields combine. A hop may carry a port
// (203.0.113.9:1234, [2001:db8::1]:443); a hop that is no address ends the
// walk at the last trusted one.
func (p proxies) clientIP(peer netip.Addr, forwardedFor string) netip.Addr {
	client := peer.Unmap()
	if len(p) == 0 || !p.trusted(client) {
		return client
	}
	for forwardedFor != "" {
		var hop string
		if i := strings.LastIndexByte(forwardedFor, ','); i >= 0 {
			hop, forwardedFor = forwardedFor[i+1:], forwardedFor[:i]
		} else {
			hop, forwardedFor = forwardedFor, ""
		}
		a, ok := parseHop(strings.TrimSpace(hop))
		if !ok {
			return client
		}
		client = a
		if !p.trusted(client) {
			return client
		}
	}
	return client
}

// parseHop reads one X-Forwarded-For entry: an address, an address with a
// port, or an IPv6 address in brackets with or without one.
func parseHop(hop string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(hop); err == nil {
		return a.Unmap(), a.Zone() == ""
	}
	if ap, err := netip.ParseAddrPort(hop); err == nil {
		return ap.Addr().Unmap(), ap.Addr().Zone() == ""
	}
	if v6, ok := strings.CutPrefix(hop, "["); ok {
		if v6, ok = strings.CutSuffix(v6, "]"); ok {
			if a, err := netip.ParseAddr(v6); err == nil && a.Is6() && a.Zone() == "" {
				return a.Unmap(), true
			}
		}
	}
	return netip.Addr{}, false
}

// Identity is the part of a client's address that stands for one client in
// the rate limit and in the collector's dedup set and visitor hash: the
// whole IPv4 address, or the /64 of an IPv6 one, since one subscriber gets
// a /64 and picks addresses in it at will.
func Identity(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}
