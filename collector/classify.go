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
	a := Agent{Browser: p.Name, OS: p.OS}
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
