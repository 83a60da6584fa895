package packet

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeFixedHeader(t *testing.T) {
	tests := []struct {
		name string
		wire []byte
		want FixedHeader
	}{
		{"CONNECT", cat(0x10, 0x0D), FixedHeader{Type: CONNECT, RemainingLength: 13, HeaderLen: 2}},
		{"PUBLISH QoS 1 retained dup", cat(0x3B, 0x05), FixedHeader{Type: PUBLISH, Flags: 0x0B, RemainingLength: 5, HeaderLen: 2}},
		{"PUBREL", cat(0x62, 0x02), FixedHeader{Type: PUBREL, Flags: 2, RemainingLength: 2, HeaderLen: 2}},
		{"SUBSCRIBE", cat(0x82, 0x7F), FixedHeader{Type: SUBSCRIBE, Flags: 2, RemainingLength: 127, HeaderLen: 2}},
		{"UNSUBSCRIBE", cat(0xA2, 0x80, 0x01), FixedHeader{Type: UNSUBSCRIBE, Flags: 2, RemainingLength: 128, HeaderLen: 3}},
		{"PINGREQ", cat(0xC0, 0x00), FixedHeader{Type: PINGREQ, HeaderLen: 2}},
		{"PINGRESP", cat(0xD0, 0x00), FixedHeader{Type: PINGRESP, HeaderLen: 2}},
		{"DISCONNECT", cat(0xE0, 0x00), FixedHeader{Type: DISCONNECT, HeaderLen: 2}},
		{"AUTH", cat(0xF0, 0x00), FixedHeader{Type: AUTH, HeaderLen: 2}},
		{"three-byte length", cat(0x30, 0xFF, 0xFF, 0x7F), FixedHeader{Type: PUBLISH, RemainingLength: 2_097_151, HeaderLen: 4}},
		{"largest length", cat(0x30, 0xFF, 0xFF, 0xFF, 0x7F), FixedHeader{Type: PUBLISH, RemainingLength: MaxRemainingLength, HeaderLen: 5}},
		{"length in more bytes than needed", cat(0xD0, 0x80, 0x00), FixedHeader{Type: PINGRESP, HeaderLen: 3}},
		{"bytes after the header", cat(0xC0, 0x00, 0xD0, 0x00), FixedHeader{Type: PINGREQ, HeaderLen: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := DecodeFixedHeader(tt.wire)
			require.NoError(t, err)
			assert.Equal(t, tt.want, h)
			assert.Equal(t, tt.want.HeaderLen+tt.want.RemainingLength, h.PacketLen())
		})
	}
}

func TestDecodeFixedHeaderMalformed(t *testing.T) {
	tests := []badFixture{
		{"type 0", cat(0x00, 0x00), ErrMalformed, 0, 0x81, "§2.2.1"},
		{"PUBLISH QoS 3", cat(0x36), ErrMalformed, 0, 0x81, "MQTT-3.3.1-4"},
		{"PUBREL flags 0", cat(0x60, 0x02), ErrMalformed, 0, 0x81, "MQTT-2.2.2-2"},
		{"SUBSCRIBE with DUP", cat(0x8A, 0x02), ErrMalformed, 0, 0x81, "MQTT-2.2.2-2"},
		{"PINGREQ flags 1", cat(0xC1, 0x00), ErrMalformed, 0, 0x81, "MQTT-2.2.2-2"},
		{"CONNECT flags 2", cat(0x12), ErrMalformed, 0, 0x81, "MQTT-2.2.2-2"},
		{"fifth length byte", cat(0x10, 0x80, 0x80, 0x80, 0x80), ErrMalformed, 0, 0x81, "§2.2.3"},
		{"fifth length byte after the largest", cat(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), ErrMalformed, 0, 0x81, "§2.2.3"},
	}
	for _, f := range tests {
		t.Run(f.name, func(t *testing.T) {
			_, err := DecodeFixedHeader(f.wire)
			assertFixtureError(t, f, err)
		})
	}
}

func TestDecodeFixedHeaderNeedsMore(t *testing.T) {
	for _, wire := range [][]byte{nil, cat(0x10), cat(0x10, 0x80), cat(0x30, 0xFF, 0xFF), cat(0x30, 0xFF, 0xFF, 0xFF)} {
		_, err := DecodeFixedHeader(wire)
		assert.Same(t, ErrNeedMore, err, "% x", wire)
	}
}

func TestDecodeFixedHeaderAllocatesNothing(t *testing.T) {
	wire := cat(0x30, 0xFF, 0xFF, 0x7F)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = DecodeFixedHeader(wire) }))
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = DecodeFixedHeader(wire[:2]) }))
}

func TestTypeString(t *testing.T) {
	assert.Equal(t, "CONNECT", CONNECT.String())
	assert.Equal(t, "AUTH", AUTH.String())
	assert.Equal(t, "Type(16)", Type(16).String())
	assert.Equal(t, "Session Expiry Interval", PropSessionExpiryInterval.String())
	assert.Equal(t, "unknown property", PropertyID(0x7F).String())
}
