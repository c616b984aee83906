package event_test

import (
	"slices"
	"testing"

	"github.com/credstats/credstats/internal/event"
)

// TestEnumCodesAreTheConstants: a value's Go constant is its Enum8 code,
// so the spool's bytes and ClickHouse's codes are the same numbers, and
// each set has a constant for every name.
func TestEnumCodesAreTheConstants(t *testing.T) {
	codes(t, event.TypeEnum, event.View, event.Share, event.Download, event.Verify, event.LinkedInAdd, event.LinkCopy)
	codes(t, event.NetworkEnum, event.NetworkNone, event.LinkedIn, event.Twitter, event.Facebook, event.Messenger, event.WhatsApp, event.Pinterest, event.Telegram, event.Weibo, event.Email, event.Other)
	codes(t, event.ActorEnum, event.Guest, event.Recipient)
	codes(t, event.SourceEnum, event.Beacon, event.Pixel, event.API, event.Import)
	codes(t, event.DeviceEnum, event.DeviceUnknown, event.Desktop, event.Mobile, event.Tablet, event.DeviceBot)
	codes(t, event.BotReasonEnum, event.NotBot, event.NoUserAgent, event.Crawler, event.Headless, event.NotBrowser)

	if ts := event.Types(); !slices.Equal(ts, []event.Type{event.View, event.Share, event.Download, event.Verify, event.LinkedInAdd, event.LinkCopy}) {
		t.Errorf("Types() = %v", ts)
	}
	if ns := event.Networks(); len(ns) != int(event.Other) || ns[0] != event.LinkedIn || ns[len(ns)-1] != event.Other {
		t.Errorf("Networks() = %v", ns)
	}
	for _, bad := range []event.Type{event.TypeNone, event.LinkCopy + 1} {
		if event.TypeEnum.Has(int(bad)) || bad.String() != "" {
			t.Errorf("type code %d is in the set", bad)
		}
	}
}

// constant is a Go type whose values are an Enum's codes.
type constant interface {
	~uint8
	String() string
}

func codes[T constant](t *testing.T, e event.Enum, all ...T) {
	t.Helper()
	for _, v := range all {
		if c, ok := e.Code(v.String()); !ok || c != int(v) {
			t.Errorf("%s %q: code %d, %v in the set; its constant is %d", e.Field, v, c, ok, v)
		}
	}
	if len(all) != len(e.Values()) {
		t.Errorf("%s: %d constants for %d names", e.Field, len(all), len(e.Values()))
	}
}

func TestEnum8(t *testing.T) {
	if got, want := event.ActorEnum.Enum8(), "Enum8('guest' = 1, 'recipient' = 2)"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := event.DeviceEnum.Enum8(), "Enum8('unknown' = 0, 'desktop' = 1, 'mobile' = 2, 'tablet' = 3, 'bot' = 4)"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
