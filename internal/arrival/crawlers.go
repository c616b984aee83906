package arrival

import (
	"strings"

	"github.com/credstats/credstats/internal/event"
)

// Crawler names the network whose link-preview crawler sent the user
// agent, and the crawler's token; ok is false for anything else. When a
// credential's link is pasted into a post or a chat, the network fetches
// the page and its og:image: that fetch is evidence of a share, made with
// or without the page's buttons. User agents can be forged, so it is
// evidence, not proof.
func Crawler(ua string) (n event.Network, name string, ok bool) {
	if len(ua) > 512 {
		ua = ua[:512]
	}
	for _, c := range crawlers {
		if strings.Contains(ua, c.token) {
			return c.network, c.token, true
		}
	}
	return event.NetworkNone, "", false
}

// crawlers are the link-preview fetchers, as their operators document
// their user agents; Messenger's previews come from Facebook's. Crawlers
// of networks credstats has no network for are Other.
var crawlers = []struct {
	token   string
	network event.Network
}{
	{"LinkedInBot", event.LinkedIn},
	{"Twitterbot", event.Twitter},
	{"facebookexternalhit", event.Facebook},
	{"Facebot", event.Facebook},
	{"meta-externalagent", event.Facebook},
	{"WhatsApp", event.WhatsApp},
	{"TelegramBot", event.Telegram},
	{"Pinterestbot", event.Pinterest},
	{"Pinterest/", event.Pinterest},
	{"Slackbot", event.Other},
	{"Slack-ImgProxy", event.Other},
	{"Discordbot", event.Other},
	{"redditbot", event.Other},
	{"SkypeUriPreview", event.Other},
	{"Mastodon", event.Other},
	{"Bluesky", event.Other},
}
