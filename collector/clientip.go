package collector

import (
	"fmt"
	"net/netip"
	"strings"
)

// proxies are the peers trusted to say who their client is.
type proxies []netip.Prefix

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
// it is the rightmost address in X-Forwarded-For that is not itself a
// trusted proxy, since everything left of that could be made up by the
// client.
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
		a, err := netip.ParseAddr(strings.TrimSpace(hop))
		if err != nil {
			return client
		}
		client = a.Unmap()
		if !p.trusted(client) {
			return client
		}
	}
	return client
}
