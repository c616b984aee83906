// Package arrival says how a visitor came to a credential page: through a
// share on a network, directly, from the issuer's own site or from another
// site. A share made through the beacon tags the link it shares with the
// network and the sharer (see Tag), which wins; otherwise the referrer's
// host is looked up in one maintained table of the networks' hosts.
package arrival

import (
	"strings"

	"github.com/credstats/credstats/internal/event"
)

// Param is the query parameter of a shared link that carries its tag:
// ?cs=linkedin.r is a link the recipient shared on LinkedIn, ?cs=email.g
// one a guest sent by e-mail. The beacon adds it when a share is made and
// removes it from the address bar of the page it opens.
const Param = "cs"

// Tag is the value of Param for a share on n by a.
func Tag(n event.Network, a event.Actor) string {
	if a == event.Recipient {
		return n.String() + ".r"
	}
	return n.String() + ".g"
}

// ParseTag reads a tag; ok is false for anything Tag does not write.
func ParseTag(s string) (n event.Network, sharer event.Actor, ok bool) {
	name, who, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	n, ok = event.ParseNetwork(name)
	switch {
	case !ok || n == event.NetworkNone:
		return 0, 0, false
	case who == "r":
		return n, event.Recipient, true
	case who == "g":
		return n, event.Guest, true
	}
	return 0, 0, false
}

// Fill sets the event's arrival and its sharer, from the tag via the page
// was opened with or the referrer. A share is stored under the network it
// went to, by its actor, so that a network's shares and the arrivals they
// bring are counted under one value. An event that names neither its page
// nor a referrer (the authenticated API, the badges.ninja route) has no
// known arrival.
func Fill(e *event.Event, via string) {
	switch {
	case e.Type == event.Share:
		e.ArrivedFrom, e.SharedBy = event.ArrivalFrom(e.Network), e.Actor
	case via == "" && e.URLHost == "" && e.ReferrerHost == "":
		e.ArrivedFrom, e.SharedBy = event.ArrivalUnknown, 0
	default:
		e.ArrivedFrom, e.SharedBy = Of(via, e.ReferrerHost, e.URLHost)
	}
}

// Of is the arrival of a page load: the network and sharer of a valid tag,
// else the network of the referrer's host, else Direct without a referrer,
// Site from the page's own host and Web from any other.
func Of(via, referrerHost, pageHost string) (event.Arrival, event.Actor) {
	if n, a, ok := ParseTag(via); ok {
		return event.ArrivalFrom(n), a
	}
	switch {
	case referrerHost == "":
		return event.Direct, 0
	case sameSite(referrerHost, pageHost):
		return event.Site, 0
	}
	if n := Network(referrerHost); n != event.NetworkNone {
		return event.ArrivalFrom(n), 0
	}
	return event.Web, 0
}

func sameSite(a, b string) bool {
	return strings.TrimPrefix(a, "www.") == strings.TrimPrefix(b, "www.")
}

// Network is the network whose host a referrer is, NetworkNone for any
// other. host is lower case, as stored; it matches an entry of hosts or a
// subdomain of one (l.facebook.com is facebook.com's), and a first label
// mail or webmail is a mail client's.
func Network(host string) event.Network {
	for h := host; h != ""; {
		if n, ok := hosts[h]; ok {
			return n
		}
		_, parent, ok := strings.Cut(h, ".")
		if !ok {
			break
		}
		h = parent
	}
	if first, _, _ := strings.Cut(host, "."); (first == "mail" || first == "webmail") && strings.Contains(host, ".") {
		return event.Email
	}
	return event.NetworkNone
}

// hosts maps the hosts whose pages and link shorteners send visitors from
// shared links to their network; their subdomains match too. Chat and
// social networks credstats has no network for are Other.
var hosts = map[string]event.Network{
	"linkedin.com": event.LinkedIn, "lnkd.in": event.LinkedIn,
	"t.co": event.Twitter, "twitter.com": event.Twitter, "x.com": event.Twitter,
	"facebook.com": event.Facebook, "fb.com": event.Facebook, "fb.me": event.Facebook,
	"messenger.com": event.Messenger, "m.me": event.Messenger,
	"whatsapp.com": event.WhatsApp, "wa.me": event.WhatsApp,
	"pinterest.com": event.Pinterest, "pin.it": event.Pinterest, "pinterest.co.uk": event.Pinterest,
	"pinterest.de": event.Pinterest, "pinterest.fr": event.Pinterest,
	"t.me": event.Telegram, "telegram.me": event.Telegram, "telegram.org": event.Telegram,
	"weibo.com": event.Weibo, "weibo.cn": event.Weibo, "t.cn": event.Weibo,
	// Webmail whose host does not start with mail. or webmail.
	"outlook.live.com": event.Email, "outlook.office.com": event.Email, "outlook.office365.com": event.Email,
	"mail.google.com": event.Email, "mail.yahoo.com": event.Email, "proton.me": event.Email,
	"fastmail.com": event.Email, "gmx.net": event.Email, "web.de": event.Email,
	"slack.com": event.Other, "slack-redir.net": event.Other, "teams.microsoft.com": event.Other,
	"discord.com": event.Other, "reddit.com": event.Other, "instagram.com": event.Other,
	"threads.net": event.Other, "bsky.app": event.Other, "xing.com": event.Other, "vk.com": event.Other,
	"line.me": event.Other,
}
