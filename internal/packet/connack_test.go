package packet

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connackPropsOf turns decoded CONNACK properties back into the
// ConnackProps that encode them.
func connackPropsOf(p Properties) *ConnackProps {
	str := func(v []byte, _ bool) string { return string(v) }
	return &ConnackProps{
		SessionExpiry:                   optional(p.SessionExpiry()),
		ReceiveMaximum:                  optional(p.ReceiveMaximum()),
		MaximumQoS:                      optional(p.MaximumQoS()),
		RetainAvailable:                 optional(p.RetainAvailable()),
		MaximumPacketSize:               optional(p.MaximumPacketSize()),
		AssignedClientIdentifier:        str(p.AssignedClientIdentifier()),
		TopicAliasMaximum:               optional(p.TopicAliasMaximum()),
		ReasonString:                    str(p.ReasonString()),
		UserProperties:                  userProperties(p.UserProperties()),
		WildcardSubscriptionAvailable:   optional(p.WildcardSubscriptionAvailable()),
		SubscriptionIdentifierAvailable: optional(p.SubscriptionIdentifierAvailable()),
		SharedSubscriptionAvailable:     optional(p.SharedSubscriptionAvailable()),
		ServerKeepAlive:                 optional(p.ServerKeepAlive()),
		ResponseInformation:             str(p.ResponseInformation()),
		ServerReference:                 str(p.ServerReference()),
		AuthenticationMethod:            str(p.AuthenticationMethod()),
		AuthenticationData:              optionalBytes(p.AuthenticationData()),
	}
}

func TestDecodeConnack(t *testing.T) {
	for _, f := range validConnacks {
		t.Run(f.name, func(t *testing.T) {
			ack, n, err := DecodeConnack(append(bytes.Clone(f.wire), 0xD0, 0x00), f.version)
			require.NoError(t, err)
			assert.Equal(t, len(f.wire), n)
			assert.Equal(t, f.version, ack.Version)
			assert.Equal(t, f.session, ack.SessionPresent)
			assert.Equal(t, f.code, ack.Code)
			if f.props != nil {
				assert.Equal(t, f.props, connackPropsOf(ack.Properties))
			}
			assert.Equal(t, f.wire, AppendConnack(nil, f.version, f.session, f.code, f.props))

			for i := range len(f.wire) {
				_, _, err := DecodeConnack(f.wire[:i], f.version)
				require.Same(t, ErrNeedMore, err, "prefix of %d bytes", i)
			}
			assert.Zero(t, testing.AllocsPerRun(100, func() { _, _, _ = DecodeConnack(f.wire, f.version) }))
		})
	}
}

func TestDecodeConnackWithoutProperties(t *testing.T) {
	ack, n, err := DecodeConnack(cat(0x20, 0x02, 0x00, 0x87), V5) // property length omitted
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Equal(t, ConnackNotAuthorized, ack.Code)
	_, ok := ack.Properties.ReasonString()
	assert.False(t, ok)
}

func TestDecodeConnackMalformed(t *testing.T) {
	for _, f := range badConnacks {
		t.Run(f.name, func(t *testing.T) {
			_, n, err := DecodeConnack(f.wire, f.version)
			assert.Zero(t, n)
			assertFixtureError(t, f, err)
		})
	}
}

func TestAppendConnack(t *testing.T) {
	tests := []struct {
		name    string
		version byte
		session bool
		code    byte
		props   *ConnackProps
		want    []byte
	}{
		{"3.1.1 refusal clears session present [MQTT-3.2.2-4]", V311, true, ReturnServerUnavailable, nil, cat(0x20, 0x02, 0x00, 0x03)},
		{"3.1 has no session present", V31, true, ReturnAccepted, nil, cat(0x20, 0x02, 0x00, 0x00)},
		{"3.1.1 ignores properties", V311, false, ReturnAccepted, &ConnackProps{ReasonString: "x"}, cat(0x20, 0x02, 0x00, 0x00)},
		{"5.0 nil properties", V5, false, ConnackServerUnavailable, nil, cat(0x20, 0x03, 0x00, 0x88, 0x00)},
		{"5.0 refusal clears session present [MQTT-3.2.2-6]", V5, true, ConnackQuotaExceeded, nil, cat(0x20, 0x03, 0x00, 0x97, 0x00)},
		{"5.0 server moved", V5, false, ConnackServerMoved, &ConnackProps{ServerReference: "b:1883"},
			pkt(0x20, 0x00, 0x9D, props(0x1C, str("b:1883")))},
		{"5.0 two-byte lengths", V5, false, ConnackPacketTooLarge, &ConnackProps{ReasonString: long(200)},
			pkt(0x20, 0x00, 0x95, props(0x1F, str(long(200))))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendConnack([]byte("prefix"), tt.version, tt.session, tt.code, tt.props)
			assert.Equal(t, append([]byte("prefix"), tt.want...), got)
		})
	}
}

func TestAppendConnackAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 64)
	props := &ConnackProps{ReasonString: "too many connections", ServerReference: "10.0.0.2:1883"}
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		buf = AppendConnack(buf[:0], V5, false, ConnackUseAnotherServer, props)
	}))
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		buf = AppendConnack(buf[:0], V311, false, ReturnServerUnavailable, nil)
	}))
}

func TestAppendControlPackets(t *testing.T) {
	assert.Equal(t, cat(0xC0, 0x00), AppendPingreq(nil))
	assert.Equal(t, cat(0xD0, 0x00), AppendPingresp(nil))
	assert.Equal(t, cat(0xE0, 0x00), AppendDisconnect(nil, V311, DisconnectServerShuttingDown), "3.x has no reason code")
	assert.Equal(t, cat(0xE0, 0x00), AppendDisconnect(nil, V5, DisconnectNormal))
	assert.Equal(t, cat(0xE0, 0x01, 0x8B), AppendDisconnect(nil, V5, DisconnectServerShuttingDown))
	for _, wire := range [][]byte{AppendPingreq(nil), AppendPingresp(nil), AppendDisconnect(nil, V5, DisconnectUseAnotherServer)} {
		h, err := DecodeFixedHeader(wire)
		require.NoError(t, err)
		assert.Equal(t, len(wire), h.PacketLen())
	}
}

func TestAppendPanicsOnImpossibleLengths(t *testing.T) {
	assert.PanicsWithValue(t, "packet: string or binary field longer than 65535 bytes", func() {
		AppendConnect(nil, &ConnectSpec{ClientID: long(65536)})
	})
	assert.PanicsWithValue(t, "packet: encoded length exceeds MaxRemainingLength", func() {
		endLength(make([]byte, MaxRemainingLength+5), 0)
	})
}
