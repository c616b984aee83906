package event

import (
	"encoding/binary"
	"errors"
	"time"
)

// The binary form of an Event is what the collector keeps in its spool: a
// version byte, the fixed-size fields, then each string as a uvarint
// length and its bytes. Version 2 added the arrival and its sharer after
// the other codes; records of version 1 still in a spool decode with
// neither.
const binaryVersion = 2

// ErrBadRecord is returned for a record that is not a whole, known Event.
var ErrBadRecord = errors.New("not an encoded event")

// AppendBinary appends e's binary form to b.
func AppendBinary(b []byte, e *Event) []byte {
	b = append(b, binaryVersion)
	b = append(b, e.ID[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, e.Visitor)
	b = append(b, byte(e.Type), byte(e.Network), byte(e.Actor), byte(e.Source), byte(e.Device), byte(e.Bot), byte(e.ArrivedFrom), byte(e.SharedBy))
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
	fixed := 1 + 16 + 8 + 8 + 6
	if len(b) > 0 && b[0] == binaryVersion {
		fixed += 2
	} else if len(b) > 0 && b[0] != 1 {
		return e, ErrBadRecord
	}
	if len(b) < fixed {
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
	if b[0] == binaryVersion {
		e.ArrivedFrom, e.SharedBy = Arrival(b[39]), Actor(b[40])
		if !ArrivalEnum.Has(int(e.ArrivedFrom)) || !SharerEnum.Has(int(e.SharedBy)) {
			return Event{}, ErrBadRecord
		}
	}
	// One copy of the strings' part of the record holds them all.
	rest := string(b[fixed:])
	for _, s := range [...]*string{&e.Credential, &e.Group, &e.URLHost, &e.URLPath, &e.ReferrerHost, &e.ReferrerPath, &e.Country, &e.Browser, &e.OS} {
		n, k := uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return Event{}, ErrBadRecord
		}
		*s = rest[k : k+int(n)]
		rest = rest[k+int(n):]
	}
	if len(rest) != 0 {
		return Event{}, ErrBadRecord
	}
	return e, nil
}

// uvarint is binary.Uvarint for a string.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s); i++ {
		if i == binary.MaxVarintLen64 {
			return 0, -(i + 1) // overflow
		}
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1) // overflow
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
