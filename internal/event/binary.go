package event

import (
	"encoding/binary"
	"errors"
	"time"
)

// The binary form of an Event is what the collector keeps in its spool: a
// version byte, the fixed-size fields, then each string as a uvarint
// length and its bytes.
const binaryVersion = 1

// ErrBadRecord is returned for a record that is not a whole, known Event.
var ErrBadRecord = errors.New("not an encoded event")

// AppendBinary appends e's binary form to b.
func AppendBinary(b []byte, e *Event) []byte {
	b = append(b, binaryVersion)
	b = append(b, e.ID[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, e.Visitor)
	b = append(b, byte(e.Type), byte(e.Network), byte(e.Actor), byte(e.Source), byte(e.Device), byte(e.Bot))
	for _, s := range [...]string{e.Credential, e.Group, e.URLHost, e.URLPath, e.ReferrerHost, e.ReferrerPath, e.Country, e.Browser, e.OS} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// DecodeBinary reads an Event written by AppendBinary. Its strings are
// copies, so b may be reused.
func DecodeBinary(b []byte) (Event, error) {
	var e Event
	const fixed = 1 + 16 + 8 + 8 + 6
	if len(b) < fixed || b[0] != binaryVersion {
		return e, ErrBadRecord
	}
	copy(e.ID[:], b[1:17])
	e.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(b[17:25]))).UTC()
	e.Visitor = binary.LittleEndian.Uint64(b[25:33])
	e.Type, e.Network, e.Actor = Type(b[33]), Network(b[34]), Actor(b[35])
	e.Source, e.Device, e.Bot = Source(b[36]), Device(b[37]), BotReason(b[38])
	if !TypeEnum.Has(int(e.Type)) || !NetworkEnum.Has(int(e.Network)) || !ActorEnum.Has(int(e.Actor)) ||
		!SourceEnum.Has(int(e.Source)) || !DeviceEnum.Has(int(e.Device)) || !BotReasonEnum.Has(int(e.Bot)) {
		return Event{}, ErrBadRecord
	}
	rest := b[fixed:]
	for _, s := range [...]*string{&e.Credential, &e.Group, &e.URLHost, &e.URLPath, &e.ReferrerHost, &e.ReferrerPath, &e.Country, &e.Browser, &e.OS} {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return Event{}, ErrBadRecord
		}
		*s = string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return Event{}, ErrBadRecord
	}
	return e, nil
}
