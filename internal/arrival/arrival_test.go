package arrival_test

import (
	"strings"
	"testing"

	"github.com/credstats/credstats/internal/arrival"
	"github.com/credstats/credstats/internal/event"
)

func TestReferrerHosts(t *testing.T) {
	f := func(host string, want event.Network) {
		t.Helper()
		if got := arrival.Network(host); got != want {
			t.Errorf("Network(%q) = %q, want %q", host, got, want)
		}
	}
	f("www.linkedin.com", event.LinkedIn)
	f("linkedin.com", event.LinkedIn)
	f("lnkd.in", event.LinkedIn)
	f("t.co", event.Twitter)
	f("x.com", event.Twitter)
	f("mobile.twitter.com", event.Twitter)
	f("facebook.com", event.Facebook)
	f("m.facebook.com", event.Facebook)
	f("l.facebook.com", event.Facebook)
	f("l.messenger.com", event.Messenger)
	f("web.whatsapp.com", event.WhatsApp)
	f("wa.me", event.WhatsApp)
	f("pin.it", event.Pinterest)
	f("t.me", event.Telegram)
	f("web.telegram.org", event.Telegram)
	f("weibo.com", event.Weibo)
	f("mail.google.com", event.Email)
	f("outlook.live.com", event.Email)
	f("mail.example.org", event.Email)
	f("webmail.uni-example.de", event.Email)
	f("app.slack.com", event.Other)
	f("teams.microsoft.com", event.Other)
	// Not a network: a look-alike, a search engine, a bare "mail" host.
	f("notlinkedin.com", event.NetworkNone)
	f("linkedin.com.example.org", event.NetworkNone)
	f("www.google.com", event.NetworkNone)
	f("mail", event.NetworkNone)
	f("", event.NetworkNone)
}

func TestOf(t *testing.T) {
	f := func(via, ref, page string, want event.Arrival, sharer event.Actor) {
		t.Helper()
		got, by := arrival.Of(via, ref, page)
		if got != want || by != sharer {
			t.Errorf("Of(%q, %q, %q) = %q by %q, want %q by %q", via, ref, page, got, by, want, sharer)
		}
	}
	f("linkedin.r", "", "certs.example.org", event.ArrivalFrom(event.LinkedIn), event.Recipient)
	f("whatsapp.g", "", "certs.example.org", event.ArrivalFrom(event.WhatsApp), event.Guest)
	// The tag names the share, wherever its link was pasted.
	f("twitter.g", "web.whatsapp.com", "certs.example.org", event.ArrivalFrom(event.Twitter), event.Guest)
	f("", "lnkd.in", "certs.example.org", event.ArrivalFrom(event.LinkedIn), 0)
	// A tag nobody wrote counts as none.
	f("linkedin", "t.co", "certs.example.org", event.ArrivalFrom(event.Twitter), 0)
	f(".r", "", "certs.example.org", event.Direct, 0)
	f("mastodon.r", "", "certs.example.org", event.Direct, 0)
	f("", "", "certs.example.org", event.Direct, 0)
	f("", "certs.example.org", "certs.example.org", event.Site, 0)
	f("", "www.certs.example.org", "certs.example.org", event.Site, 0)
	f("", "www.google.com", "certs.example.org", event.Web, 0)
}

func TestFill(t *testing.T) {
	share := event.Event{Type: event.Share, Network: event.Email, Actor: event.Recipient, ReferrerHost: "t.co"}
	arrival.Fill(&share, "linkedin.g")
	if share.ArrivedFrom != event.ArrivalFrom(event.Email) || share.SharedBy != event.Recipient {
		t.Errorf("a share is stored as %q by %q, want its own network and actor", share.ArrivedFrom, share.SharedBy)
	}
	api := event.Event{Type: event.View, Source: event.API}
	arrival.Fill(&api, "")
	if api.ArrivedFrom != event.ArrivalUnknown {
		t.Errorf("an event without a page arrived from %q, want unknown", api.ArrivedFrom)
	}
	view := event.Event{Type: event.Verify, URLHost: "certs.example.org"}
	arrival.Fill(&view, "facebook.r")
	if view.ArrivedFrom != event.ArrivalFrom(event.Facebook) || view.SharedBy != event.Recipient {
		t.Errorf("a verification after a tagged arrival is %q by %q", view.ArrivedFrom, view.SharedBy)
	}
}

func TestTagRoundTrip(t *testing.T) {
	for _, n := range event.Networks() {
		for _, a := range []event.Actor{event.Guest, event.Recipient} {
			if gn, ga, ok := arrival.ParseTag(arrival.Tag(n, a)); !ok || gn != n || ga != a {
				t.Errorf("ParseTag(Tag(%q, %q)) = %q, %q, %v", n, a, gn, ga, ok)
			}
		}
	}
}

func FuzzOf(f *testing.F) {
	f.Add("linkedin.r", "lnkd.in", "certs.example.org")
	f.Add("", "mail.example.org", "")
	f.Fuzz(func(t *testing.T, via, ref, page string) {
		a, by := arrival.Of(via, ref, page)
		if !event.ArrivalEnum.Has(int(a)) || a == event.ArrivalUnknown || !event.SharerEnum.Has(int(by)) {
			t.Fatalf("Of(%q, %q, %q) = %d by %d", via, ref, page, a, by)
		}
		if _, _, ok := arrival.ParseTag(via); ok != (by != 0) {
			t.Fatalf("a sharer %d without a tag %q", by, via)
		}
	})
}

func TestCrawlers(t *testing.T) {
	f := func(ua string, want event.Network, wantOK bool) {
		t.Helper()
		n, name, ok := arrival.Crawler(ua)
		if n != want || ok != wantOK || ok != (name != "") {
			t.Errorf("Crawler(%q) = %q, %q, %v; want %q, %v", ua, n, name, ok, want, wantOK)
		}
	}
	f("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", event.LinkedIn, true)
	f("Twitterbot/1.0", event.Twitter, true)
	f("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", event.Facebook, true)
	f("WhatsApp/2.23.20.0 A", event.WhatsApp, true)
	f("TelegramBot (like TwitterBot)", event.Telegram, true)
	f("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", event.Other, true)
	f("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", event.Other, true)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36", event.NetworkNone, false)
	f("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", event.NetworkNone, false)
	f("", event.NetworkNone, false)
}

func FuzzCrawler(f *testing.F) {
	f.Add("LinkedInBot/1.0")
	f.Fuzz(func(t *testing.T, ua string) {
		n, name, ok := arrival.Crawler(ua)
		if ok != (n != event.NetworkNone) || ok != (name != "") || (ok && !strings.Contains(ua, name)) {
			t.Fatalf("Crawler(%q) = %q, %q, %v", ua, n, name, ok)
		}
	})
}

func TestVerifierClass(t *testing.T) {
	f := func(host, want string) {
		t.Helper()
		if got := arrival.VerifierClass(host); got != want {
			t.Errorf("VerifierClass(%q) = %q, want %q", host, got, want)
		}
	}
	f("boards.greenhouse.io", arrival.VerifierHR)
	f("jobs.lever.co", arrival.VerifierHR)
	f("acme.wd5.myworkdayjobs.com", arrival.VerifierHR)
	f("mail.google.com", arrival.VerifierEmail)
	f("www.linkedin.com", arrival.VerifierSocial)
	f("app.slack.com", arrival.VerifierSocial)
	f("", arrival.VerifierDirect)
	f("www.example.org", arrival.VerifierWeb)
	f("greenhouse.io.example.org", arrival.VerifierWeb)
}
