package collector

import (
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/mileusna/useragent"

	"github.com/credstats/credstats/internal/event"
)

// Agent is what a user agent string tells about the client.
type Agent struct {
	Browser string
	OS      string
	Device  event.Device
	Bot     event.BotReason
}

// classifier parses user agents with github.com/mileusna/useragent, which
// knows the common crawlers (search engines, AI crawlers, link previews)
// and takes a couple of microseconds, and caches the few thousand distinct
// agents that make up most traffic.
type classifier struct {
	cache *lru.Cache[string, Agent]
}

func newClassifier(size int) *classifier {
	c, err := lru.New[string, Agent](size)
	if err != nil {
		panic(err) // size is checked by Options.
	}
	return &classifier{cache: c}
}

// maxAgentLen bounds what is parsed and cached: no browser sends more.
const maxAgentLen = 512

func (c *classifier) classify(ua string) Agent {
	if len(ua) > maxAgentLen {
		ua = ua[:maxAgentLen]
	}
	if a, ok := c.cache.Get(ua); ok {
		return a
	}
	a := classify(ua)
	c.cache.Add(strings.Clone(ua), a)
	return a
}

func classify(ua string) Agent {
	if strings.TrimSpace(ua) == "" {
		return Agent{Device: event.DeviceBot, Bot: event.NoUserAgent}
	}
	p := useragent.Parse(ua)
	a := Agent{Browser: vocabulary(knownBrowsers, p.Name), OS: vocabulary(knownOSes, p.OS)}
	switch {
	case strings.Contains(p.Name, "Headless") || strings.Contains(ua, "PhantomJS"):
		a.Bot = event.Headless
	case p.Bot:
		a.Bot = event.Crawler
	case p.OS == "" && !p.Mobile && !p.Tablet && !p.Desktop:
		// Browsers name their platform; curl, HTTP libraries and
		// messengers' link-preview fetchers do not.
		a.Bot = event.NotBrowser
	}
	switch {
	case a.Bot != event.NotBot:
		a.Device = event.DeviceBot
	case p.Tablet:
		a.Device = event.Tablet
	case p.Mobile:
		a.Device = event.Mobile
	case p.Desktop:
		a.Device = event.Desktop
	}
	return a
}

// The browser and OS names that are stored. The parser names an agent it
// does not know after the agent's first word, so anyone could fill the
// browser column with as many names as they send; such names are stored
// as "Other". A crawler's name stays only when it is one of the known.
var (
	knownBrowsers = setOf(useragent.Chrome, useragent.Firefox, useragent.Safari, useragent.MobileSafari,
		useragent.Edge, useragent.Opera, useragent.OperaMini, useragent.OperaTouch, useragent.Vivaldi,
		useragent.SamsungBrowser, useragent.InternetExplorer, useragent.NetFront, useragent.HeadlessChrome,
		useragent.FacebookApp, useragent.InstagramApp, useragent.TiktokApp, useragent.BlackBerry,
		"Android browser", "Huawei Browser", "Miui Browser", "Brave", "DuckDuckGo", "YaBrowser", "UCBrowser",
		"Whale", "Silk", "SeaMonkey", "Pale Moon", "Waterfox",
		useragent.Googlebot, useragent.GoogleAdsBot, useragent.Bingbot, useragent.Applebot, useragent.YandexBot,
		useragent.YandexAdNet, useragent.Twitterbot, useragent.FacebookExternalHit, "Bytespider",
		"Yahoo Ad monitoring", "LinkedInBot", "Slackbot", "Discordbot", "TelegramBot", "WhatsApp",
		"GPTBot", "ClaudeBot", "PerplexityBot", "DuckDuckBot", "Baiduspider", "curl", "Wget")
	knownOSes = setOf(useragent.Windows, useragent.WindowsPhone, useragent.Android, useragent.MacOS,
		useragent.IOS, useragent.Linux, useragent.FreeBSD, useragent.ChromeOS, useragent.BlackBerry,
		useragent.Harmony, "OpenBSD", "NetBSD", "KaiOS", "Tizen", "webOS")
)

// vocabulary keeps a name that is known, empty as empty, and anything
// else as "Other".
func vocabulary(known map[string]bool, name string) string {
	if name == "" || known[name] {
		return name
	}
	return "Other"
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
