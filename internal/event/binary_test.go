package event_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/credstats/credstats/internal/event"
)

func sample() event.Event {
	return event.Event{
		ID: uuid.MustParse("01a20033-c53f-725b-9e1f-7bda816bc6c1"), Time: time.Date(2026, 3, 1, 9, 30, 0, 123, time.UTC),
		Credential: "01hrsvjp560yksep2a3bek3z97", Group: "spring", Type: event.Share, Network: event.WhatsApp,
		Actor: event.Recipient, Source: event.Beacon, URLHost: "certs.example.org", URLPath: "/c/1",
		ReferrerHost: "www.linkedin.com", ReferrerPath: "/feed/", Visitor: 0xdeadbeef, Country: "DE",
		Browser: "Chrome", OS: "Windows", Device: event.Desktop, Bot: event.NotBot,
		ArrivedFrom: event.ArrivalFrom(event.LinkedIn), SharedBy: event.Recipient,
	}
}

// TestBinaryReadsVersion1: records written before the arrival was stored
// may still wait in a spool.
func TestBinaryReadsVersion1(t *testing.T) {
	e := sample()
	b := event.AppendBinary(nil, &e)
	v1 := append([]byte{1}, b[1:39]...)
	v1 = append(v1, b[41:]...)
	got, err := event.DecodeBinary(v1)
	e.ArrivedFrom, e.SharedBy = 0, 0
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("version 1:\n got %+v (%v)\nwant %+v", got, err, e)
	}
	b[39] = 99
	if _, err := event.DecodeBinary(b); err == nil {
		t.Error("an unknown arrival decoded")
	}
}

func TestBinaryRoundTrip(t *testing.T) {
	for _, e := range []event.Event{sample(), {ID: uuid.New(), Time: time.Unix(0, 0).UTC(), Credential: "c", Type: event.View, Actor: event.Guest, Source: event.API, Bot: event.Crawler, Device: event.DeviceBot}} {
		got, err := event.DecodeBinary(event.AppendBinary(nil, &e))
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Errorf("round trip:\n got %+v (%v)\nwant %+v", got, err, e)
		}
	}
}

func TestDecodeBinaryRefusesDamage(t *testing.T) {
	e := sample()
	b := event.AppendBinary(nil, &e)
	for cut := 0; cut < len(b); cut++ {
		if _, err := event.DecodeBinary(b[:cut]); err == nil {
			t.Errorf("a record cut at %d of %d decoded", cut, len(b))
		}
	}
	if _, err := event.DecodeBinary(append(b, 0)); err == nil {
		t.Error("a record with trailing bytes decoded")
	}
	bad := append([]byte(nil), b...)
	bad[33] = 99 // type
	if _, err := event.DecodeBinary(bad); err == nil {
		t.Error("an unknown type decoded")
	}
}

func FuzzDecodeBinary(f *testing.F) {
	e := sample()
	f.Add(event.AppendBinary(nil, &e))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := event.DecodeBinary(b)
		if err != nil {
			return
		}
		if again, err := event.DecodeBinary(event.AppendBinary(nil, &e)); err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("decoded %+v does not round-trip", e)
		}
	})
}

func BenchmarkBinary(b *testing.B) {
	e := sample()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = event.AppendBinary(buf[:0], &e)
		if _, err := event.DecodeBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}
