package event

// Arrival is how the visitor came to the credential page, for the events
// of that page load: through a share on a network (from the shared link's
// tag or the referrer's host), directly, from the issuer's own site, or
// from any other site. A share is stored under the network it went to, so
// that a network's shares and the arrivals they bring share one value.
// ArrivalUnknown is an event that names no page (the authenticated API).
type Arrival uint8

// The networks' arrivals have their Network's code.
const (
	ArrivalUnknown Arrival = 0
	// Direct: no referrer and no tag (typed, bookmarked, or an app that
	// sends no referrer).
	Direct Arrival = iota + Arrival(Other)
	// Site: the referrer is the credential page's own host.
	Site
	// Web: a referrer that maps to no network.
	Web
)

// ArrivalEnum names each Arrival by its code: the networks' names, then
// direct, site and web.
var ArrivalEnum = Enum{Field: "arrived_from", names: append(NetworkEnum.Names(), "direct", "site", "web")}

func (a Arrival) String() string { return ArrivalEnum.Name(int(a)) }

// ArrivalFrom is the arrival through a share on n.
func ArrivalFrom(n Network) Arrival { return Arrival(n) }

// Network is the network of a share's arrival, NetworkNone for the others.
func (a Arrival) Network() Network {
	if a <= Arrival(Other) {
		return Network(a)
	}
	return NetworkNone
}

// SharerEnum names who shared the link a visitor arrived by, with the
// Actor codes: "" where no tag said so.
var SharerEnum = Enum{Field: "shared_by", names: []string{"", "guest", "recipient"}}

// ArrivalNames lists the arrivals through shares: the networks' names.
func ArrivalNames() []string { return NetworkEnum.Names()[1:] }
