package event

import "strings"

// CertifierTypes lists the Certifier API's credential interaction event
// types, in the order of its documentation.
var CertifierTypes = []string{
	"credential_viewed",
	"credential_shared_to_linkedin",
	"credential_added_to_linkedin_profile",
	"credential_shared_to_facebook",
	"credential_shared_to_twitter",
	"credential_shared_to_messenger",
	"credential_shared_to_whatsapp",
	"credential_shared_to_pinterest",
	"credential_shared_to_telegram",
	"credential_shared_to_weibo",
	"credential_downloaded",
	"credential_link_copied",
	"credential_verified",
}

// ParseCertifierType maps a Certifier event type onto the event model.
func ParseCertifierType(s string) (Type, Network, bool) {
	switch s {
	case "credential_viewed":
		return View, NetworkNone, true
	case "credential_added_to_linkedin_profile":
		return LinkedInAdd, NetworkNone, true
	case "credential_downloaded":
		return Download, NetworkNone, true
	case "credential_link_copied":
		return LinkCopy, NetworkNone, true
	case "credential_verified":
		return Verify, NetworkNone, true
	}
	if rest, ok := strings.CutPrefix(s, "credential_shared_to_"); ok {
		n, ok := ParseNetwork(rest)
		if ok && n != NetworkNone && n != Email && n != Other {
			return Share, n, true
		}
	}
	return TypeNone, NetworkNone, false
}

// ParseBadgesNinjaKind maps a badges.ninja event kind and network onto the
// event model's type and network names: a share to `copy` is a link copy,
// and `x` is Twitter's other name. What it returns still goes through
// Input.Event's rules.
func ParseBadgesNinjaKind(kind, network string) (typ, net string) {
	network = strings.ToLower(network)
	if network == "x" {
		network = "twitter"
	}
	if kind == "share" && network == "copy" {
		return LinkCopy.String(), ""
	}
	return kind, network
}
