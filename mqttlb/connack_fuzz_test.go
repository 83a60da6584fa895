package mqttlb

import (
	"bytes"
	"testing"
)

// FuzzReadPacket checks the reader of a backend's first packet: it never
// reads a byte past the packet it returns (the relay must get the rest
// intact), returns the input's own bytes, and respects the size cap.
func FuzzReadPacket(f *testing.F) {
	f.Add([]byte{0x20, 2, 0, 0})                            // 3.1.1 CONNACK
	f.Add([]byte{0x20, 3, 0, 0, 0, 0x30, 2, 0, 0})          // v5 CONNACK, then a PUBLISH
	f.Add([]byte{0xF0, 0x80, 0x01})                         // AUTH with a two-byte length, cut short
	f.Add([]byte{0x20, 0xFF, 0xFF, 0xFF, 0xFF})             // length with a fifth byte
	f.Add([]byte{0x20, 0x80, 0xC2, 0xD7, 0x2F, 0x00, 0x01}) // 100 MB declared
	f.Fuzz(func(t *testing.T, in []byte) {
		const maxSize = 1024
		r := bytes.NewReader(in)
		pkt, err := readPacket(r, maxSize)
		consumed := len(in) - r.Len()
		if err != nil {
			if consumed > 5 && consumed > len(pkt) {
				// Only the fixed header (at most 5 bytes) may be read
				// before an error, or a whole packet that was cut short.
				if consumed != len(in) {
					t.Fatalf("read %d bytes of %d before failing: %v", consumed, len(in), err)
				}
			}
			return
		}
		if consumed != len(pkt) {
			t.Fatalf("returned %d bytes but read %d", len(pkt), consumed)
		}
		if !bytes.Equal(pkt, in[:len(pkt)]) {
			t.Fatalf("returned bytes differ from the input")
		}
		if len(pkt) > maxSize {
			t.Fatalf("returned %d bytes over the cap %d", len(pkt), maxSize)
		}
	})
}
