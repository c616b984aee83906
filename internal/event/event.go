// Package event holds the credstats event model: what a person did on one
// credential, the closed sets its fields take, and the rules a client's input
// must pass before it becomes an Event.
package event

import (
	"time"

	"github.com/google/uuid"
)

// Type is what a person did. Its names are the values of the `type` field
// and of the Enum8 column in ClickHouse.
type Type uint8

const (
	TypeNone Type = iota
	View
	Share
	Download
	Verify
	LinkedInAdd
	LinkCopy
)

// TypeEnum names each Type by its code.
var TypeEnum = Enum{Field: "type", first: 1, names: []string{"view", "share", "download", "verify", "linkedin_add", "link_copy"}}

func (t Type) String() string { return TypeEnum.Name(int(t)) }

// ParseType maps a type name to its Type; ok is false for an unknown name.
func ParseType(s string) (Type, bool) {
	c, ok := TypeEnum.Code(s)
	return Type(c), ok
}

// Types lists every Type, in column order.
func Types() []Type { return codes[Type](TypeEnum) }

// Network is where a credential was shared to; NetworkNone for every type
// but Share.
type Network uint8

const (
	NetworkNone Network = iota
	LinkedIn
	Twitter
	Facebook
	Messenger
	WhatsApp
	Pinterest
	Telegram
	Weibo
	Email
	Other
)

// NetworkEnum names each Network by its code.
var NetworkEnum = Enum{Field: "network", names: []string{"", "linkedin", "twitter", "facebook", "messenger", "whatsapp", "pinterest", "telegram", "weibo", "email", "other"}}

func (n Network) String() string { return NetworkEnum.Name(int(n)) }

// ParseNetwork maps a network name to its Network. The empty name is
// NetworkNone.
func ParseNetwork(s string) (Network, bool) {
	c, ok := NetworkEnum.Code(s)
	return Network(c), ok
}

// Networks lists every Network a share can go to: all but NetworkNone.
func Networks() []Network { return codes[Network](NetworkEnum)[1:] }

// Actor is who acted: the credential's recipient or anybody else.
type Actor uint8

const (
	Guest Actor = iota + 1
	Recipient
)

// ActorEnum names each Actor by its code.
var ActorEnum = Enum{Field: "actor", first: 1, names: []string{"guest", "recipient"}}

func (a Actor) String() string { return ActorEnum.Name(int(a)) }

// ParseActor maps an actor name to its Actor; the empty name is Guest.
func ParseActor(s string) (Actor, bool) {
	if s == "" {
		return Guest, true
	}
	c, ok := ActorEnum.Code(s)
	return Actor(c), ok
}

// Source is the route an event came in by.
type Source uint8

const (
	Beacon Source = iota + 1
	Pixel
	API
	// Import is history brought in by `credstats import`.
	Import
)

// SourceEnum names each Source by its code.
var SourceEnum = Enum{Field: "source", first: 1, names: []string{"beacon", "pixel", "api", "import"}}

func (s Source) String() string { return SourceEnum.Name(int(s)) }

// Device is the class of device the user agent names.
type Device uint8

const (
	DeviceUnknown Device = iota
	Desktop
	Mobile
	Tablet
	DeviceBot
)

// DeviceEnum names each Device by its code.
var DeviceEnum = Enum{Field: "device", names: []string{"unknown", "desktop", "mobile", "tablet", "bot"}}

func (d Device) String() string { return DeviceEnum.Name(int(d)) }

// BotReason says why an event was taken for a bot's; NotBot for a person's.
// Bots' events are stored with their reason and left out of every count.
type BotReason uint8

const (
	NotBot BotReason = iota
	// NoUserAgent: the request named no user agent at all.
	NoUserAgent
	// Crawler: the user-agent library knows it as a crawler or spider.
	Crawler
	// Headless: a browser driven by a program (headless Chrome, PhantomJS).
	Headless
	// NotBrowser: a user agent that names no browser or operating system,
	// such as curl, an HTTP library or a link-preview fetcher.
	NotBrowser
)

// BotReasonEnum names each BotReason by its code.
var BotReasonEnum = Enum{Field: "bot_reason", names: []string{"", "no_user_agent", "crawler", "headless", "not_browser"}}

func (b BotReason) String() string { return BotReasonEnum.Name(int(b)) }

// Event is one accepted event with its server-side fields, as stored.
type Event struct {
	ID           uuid.UUID
	Time         time.Time
	Credential   string
	Group        string
	Type         Type
	Network      Network
	Actor        Actor
	Source       Source
	URLHost      string
	URLPath      string
	ReferrerHost string
	ReferrerPath string
	Visitor      uint64 // keyed hash of IP and user agent (the salt rotates daily); 0 for API events, which have no person behind them
	Country      string // ISO 3166 alpha-2, empty where unknown
	Browser      string
	OS           string
	Device       Device
	Bot          BotReason
	// ArrivedFrom and SharedBy say how the visitor came to the page (see
	// Arrival) and who shared the link it came by (0: not known).
	ArrivedFrom Arrival
	SharedBy    Actor
}
