package event

import (
	"encoding/binary"
	"testing"
)

// FuzzUvarint checks that DecodeBinary's uvarint reads strings exactly as
// binary.Uvarint reads bytes, overflows and truncations included.
func FuzzUvarint(f *testing.F) {
	for _, v := range []uint64{0, 1, 127, 128, 300, 1 << 35, 1<<64 - 1} {
		f.Add(binary.AppendUvarint(nil, v))
	}
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		wantV, wantN := binary.Uvarint(b)
		gotV, gotN := uvarint(string(b))
		if gotV != wantV || gotN != wantN {
			t.Fatalf("%x: uvarint %d, %d; binary.Uvarint %d, %d", b, gotV, gotN, wantV, wantN)
		}
	})
}
