package packet

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// specOf turns a decoded CONNECT back into the ConnectSpec that encodes it,
// so that decoded fields compare with a fixture's want in one assertion.
func specOf(c *Connect) ConnectSpec {
	s := ConnectSpec{
		Version: c.Version, Bridge: c.Bridge, ClientID: string(c.ClientID), CleanStart: c.CleanStart, KeepAlive: c.KeepAlive,
		UsernameFlag: c.UsernameFlag, Username: string(c.Username),
		PasswordFlag: c.PasswordFlag, Password: c.Password(),
	}
	p := &c.Properties
	s.Properties = ConnectProps{
		SessionExpiry:              optional(p.SessionExpiry()),
		ReceiveMaximum:             optional(p.ReceiveMaximum()),
		MaximumPacketSize:          optional(p.MaximumPacketSize()),
		TopicAliasMaximum:          optional(p.TopicAliasMaximum()),
		RequestResponseInformation: optional(p.RequestResponseInformation()),
		RequestProblemInformation:  optional(p.RequestProblemInformation()),
		UserProperties:             userProperties(p.UserProperties()),
		AuthenticationMethod:       optionalBytes(p.AuthenticationMethod()),
		AuthenticationData:         optionalBytes(p.AuthenticationData()),
	}
	if c.WillFlag {
		w := &c.WillProperties
		s.Will = &WillSpec{QoS: c.WillQoS, Retain: c.WillRetain, Topic: string(c.WillTopic), Payload: c.WillPayload,
			Properties: WillProps{
				WillDelayInterval:      optional(w.WillDelayInterval()),
				PayloadFormatIndicator: optional(w.PayloadFormatIndicator()),
				MessageExpiryInterval:  optional(w.MessageExpiryInterval()),
				ContentType:            optionalBytes(w.ContentType()),
				ResponseTopic:          optionalBytes(w.ResponseTopic()),
				CorrelationData:        optionalBytes(w.CorrelationData()),
				UserProperties:         userProperties(w.UserProperties()),
			}}
	}
	return s
}

func optional[T any](v T, ok bool) *T {
	if !ok {
		return nil
	}
	return &v
}

func optionalBytes(v []byte, ok bool) []byte {
	if !ok {
		return nil
	}
	return v
}

func userProperties(it UserProperties) []UserProperty {
	var all []UserProperty
	for k, v := range it.All() {
		all = append(all, UserProperty{string(k), string(v)})
	}
	return all
}

// fixtureNamed finds a fixture of a table by its name.
func fixtureNamed[F interface{ fixtureName() string }](t testing.TB, fixtures []F, name string) F {
	t.Helper()
	for _, f := range fixtures {
		if f.fixtureName() == name {
			return f
		}
	}
	t.Fatalf("no fixture %q", name)
	var zero F
	return zero
}

func (f connectFixture) fixtureName() string { return f.name }
func (f badFixture) fixtureName() string     { return f.name }

func TestDecodeConnectValid(t *testing.T) {
	for _, f := range validConnects {
		t.Run(f.name, func(t *testing.T) {
			c, n, err := DecodeConnect(f.wire)
			require.NoError(t, err)
			assert.Equal(t, len(f.wire), n)
			assert.Equal(t, f.want, specOf(&c))
			wantName := "MQTT"
			if f.want.Version == V31 {
				wantName = "MQIsdp"
			}
			assert.Equal(t, wantName, string(c.ProtocolName))

			// A buffer holding the next packet too: n stops at the CONNECT.
			more := append(bytes.Clone(f.wire), AppendPingreq(nil)...)
			c2, n2, err := DecodeConnect(more)
			require.NoError(t, err)
			assert.Equal(t, len(f.wire), n2)
			assert.Equal(t, f.want, specOf(&c2))

			encoded := AppendConnect(nil, &f.want)
			if f.exactEncoding {
				assert.Equal(t, f.wire, encoded, "AppendConnect of the fixture's spec")
			}
			c3, n3, err := DecodeConnect(encoded)
			require.NoError(t, err)
			assert.Equal(t, len(encoded), n3)
			assert.Equal(t, f.want, specOf(&c3))
		})
	}
}

func TestDecodeConnectMalformed(t *testing.T) {
	for _, f := range badConnects {
		t.Run(f.name, func(t *testing.T) {
			_, n, err := DecodeConnect(f.wire)
			assert.Zero(t, n)
			assertFixtureError(t, f, err)

			// The error does not depend on what follows the bytes.
			_, _, err = DecodeConnect(append(bytes.Clone(f.wire), 0x00, 0xFF, 0x10))
			assertFixtureError(t, f, err)

			// A prefix either needs more bytes or already proves the same
			// error: never a different verdict.
			for i := range len(f.wire) {
				_, _, err := DecodeConnect(f.wire[:i])
				if err != ErrNeedMore {
					assertFixtureError(t, f, err)
				}
			}
		})
	}
}

func assertFixtureError(t *testing.T, f badFixture, err error) {
	t.Helper()
	var perr *Error
	require.ErrorAs(t, err, &perr)
	assert.ErrorIs(t, err, f.class)
	assert.Equal(t, f.version, perr.Version, "Version")
	assert.Equal(t, f.code, perr.Code, "Code")
	assert.Equal(t, f.rule, perr.Rule, "Rule")
	assert.NotEmpty(t, perr.Msg)
}

func TestDecodeConnectNeedsMore(t *testing.T) {
	for _, f := range partialConnects {
		t.Run(f.name, func(t *testing.T) {
			_, n, err := DecodeConnect(f.wire)
			assert.Same(t, ErrNeedMore, err) // the bare sentinel: no allocation
			assert.Zero(t, n)
		})
	}
	for _, f := range validConnects {
		t.Run("every prefix of "+f.name, func(t *testing.T) {
			for i := range len(f.wire) {
				_, _, err := DecodeConnect(f.wire[:i])
				require.Same(t, ErrNeedMore, err, "prefix of %d bytes", i)
			}
		})
	}
}

func TestDecodeConnectAllocatesNothing(t *testing.T) {
	for _, f := range validConnects {
		allocs := testing.AllocsPerRun(100, func() {
			_, _, err := DecodeConnect(f.wire)
			if err != nil {
				panic(err)
			}
		})
		assert.Zero(t, allocs, "decoding %s", f.name)
		half := f.wire[:len(f.wire)/2]
		allocs = testing.AllocsPerRun(100, func() { _, _, _ = DecodeConnect(half) })
		assert.Zero(t, allocs, "decoding half of %s", f.name)
	}
}

func TestDecodeConnectViewsAreCapped(t *testing.T) {
	wire := fixtureNamed(t, validConnects, "3.1.1 typical").wire
	original := bytes.Clone(wire)
	c, _, err := DecodeConnect(wire)
	require.NoError(t, err)
	_ = append(c.ClientID, "XXXX"...)
	_ = append(c.Username, "XXXX"...)
	assert.Equal(t, original, wire, "appending to a view must not overwrite the input")
}

func TestPropertiesAbsentIsNotZero(t *testing.T) {
	c, _, err := DecodeConnect(fixtureNamed(t, validConnects, "5.0 every will property").wire)
	require.NoError(t, err)
	expiry, ok := c.Properties.SessionExpiry()
	assert.True(t, ok, "Session Expiry Interval 0 is present")
	assert.Zero(t, expiry)
	_, ok = c.Properties.ReceiveMaximum()
	assert.False(t, ok, "Receive Maximum is absent")
	assert.True(t, c.Properties.Has(PropSessionExpiryInterval))
	assert.False(t, c.Properties.Has(PropReceiveMaximum))
	assert.False(t, c.Properties.Has(PropertyID(0xFF)))
	_, ok = c.WillProperties.SessionExpiry()
	assert.False(t, ok, "will properties are a block of their own")
	delay, ok := c.WillProperties.WillDelayInterval()
	assert.True(t, ok)
	assert.Equal(t, uint32(5), delay)

	var none Properties
	_, ok = none.AuthenticationMethod()
	assert.False(t, ok)
	it := none.UserProperties()
	_, _, ok = it.Next()
	assert.False(t, ok)
	assert.Equal(t, "[]", none.String())
}

func TestUserPropertiesAllocateNothing(t *testing.T) {
	c, _, err := DecodeConnect(fixtureNamed(t, validConnects, "5.0 every CONNECT property").wire)
	require.NoError(t, err)
	var values []string
	it := c.Properties.UserProperties()
	for k, v, ok := it.Next(); ok; k, v, ok = it.Next() {
		values = append(values, string(k)+"="+string(v))
	}
	assert.Equal(t, []string{"k=v1", "k=v2"}, values)

	allocs := testing.AllocsPerRun(100, func() {
		it := c.Properties.UserProperties()
		for _, _, ok := it.Next(); ok; _, _, ok = it.Next() {
		}
		for range c.Properties.UserProperties().All() {
		}
	})
	assert.Zero(t, allocs)
}

func TestConnectStringRedactsPassword(t *testing.T) {
	const password = "hunter2"
	c, _, err := DecodeConnect(fixtureNamed(t, validConnects, "3.1.1 typical").wire)
	require.NoError(t, err)
	require.Equal(t, password, string(c.Password()))

	var text, json bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("connect", "c", c, "ptr", &c)
	slog.New(slog.NewJSONHandler(&json, nil)).Info("connect", "c", c, "ptr", &c)
	outputs := map[string]string{
		"String":     c.String(),
		"%v value":   fmt.Sprintf("%v", c),
		"%+v value":  fmt.Sprintf("%+v", c),
		"%#v value":  fmt.Sprintf("%#v", c),
		"%v pointer": fmt.Sprintf("%v", &c),
		"%s pointer": fmt.Sprintf("%s", &c),
		"slog text":  text.String(),
		"slog JSON":  json.String(),
	}
	for how, out := range outputs {
		assert.NotContains(t, out, password, how)
		assert.Contains(t, out, "sensor-42", how)
		assert.Contains(t, out, "<redacted>", how)
	}
	assert.Equal(t, `CONNECT{MQTT 3.1.1 client="sensor-42" clean=true keepalive=60 user="device" password=<redacted>}`,
		c.String())
}

func TestConnectStringShowsWillAndProperties(t *testing.T) {
	c, _, err := DecodeConnect(fixtureNamed(t, validConnects, "5.0 every will property").wire)
	require.NoError(t, err)
	assert.Equal(t, `CONNECT{MQTT 5.0 client="lamp-1" clean=true keepalive=60 `+
		`will={topic="lamp/1/status" qos=1 retain=true payload=<4 bytes> `+
		`props=[Will Delay Interval=5 Payload Format Indicator=1 Message Expiry Interval=86400 `+
		`Content Type="text/plain" Response Topic="lamp/1/reply" Correlation Data=<2 bytes> `+
		`User Property="why":"power loss"]} props=[Session Expiry Interval=0]}`, c.String())
}

func TestErrorRefusal(t *testing.T) {
	tests := []struct {
		name        string
		wire        []byte
		wantVersion byte
		wantCode    byte
		wantOK      bool
	}{
		{"not MQTT: close", cat("GET "), 0, 0, false},
		{"3.1.1 malformed: close", fixtureNamed(t, badConnects, "3.1.1 reserved flag").wire, 0, 0, false},
		{"5.0 malformed: CONNACK 0x81", fixtureNamed(t, badConnects, "5.0 reserved flag").wire, V5, ConnackMalformed, true},
		{"5.0 protocol error: CONNACK 0x82", pkt(0x10, str("MQTT"), 5, 0x02, 0x00, 0x3C, props(0x21, 0x00, 0x00), str("c")), V5, ConnackProtocolError, true},
		{"unknown level: 3.1.1 CONNACK 0x01", pkt(0x10, str("MQTT"), 6, 0x02, 0x00, 0x3C, str("c")), V311, ReturnUnacceptableVersion, true},
		{"MQIsdp level 5: 5.0 CONNACK 0x84", pkt(0x10, str("MQIsdp"), 5, 0x02, 0x00, 0x3C, str("c")), V5, ConnackUnsupportedVersion, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeConnect(tt.wire)
			var perr *Error
			require.ErrorAs(t, err, &perr)
			version, code, ok := perr.Refusal()
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantVersion, version)
			assert.Equal(t, tt.wantCode, code)
		})
	}
}

func TestErrorText(t *testing.T) {
	_, _, err := DecodeConnect(pkt(0x10, str("MQTT"), 4, 0x03, 0x00, 0x3C, str("c")))
	assert.EqualError(t, err, "packet: malformed packet: [MQTT-3.1.2-3] reserved connect flag is set")
	assert.True(t, errors.Is(err, ErrMalformed))
	assert.EqualError(t, &Error{Err: ErrNotMQTT, Msg: "noise"}, "packet: not MQTT: noise")
	assert.EqualError(t, &Error{Err: ErrNotMQTT}, "packet: not MQTT")
}

// A Mosquitto bridge (try_private) connects with 0x80 added to the level.
func TestDecodeConnectBridgeBit(t *testing.T) {
	for _, version := range []byte{V31, V311, V5} {
		wire := AppendConnect(nil, &ConnectSpec{Version: version, Bridge: true, ClientID: "bridge-a", KeepAlive: 60})
		c, n, err := DecodeConnect(wire)
		require.NoError(t, err, "level %#x", version|0x80)
		assert.Equal(t, len(wire), n)
		assert.True(t, c.Bridge)
		assert.Equal(t, version, c.Version)
		assert.Equal(t, "bridge-a", string(c.ClientID))
	}
	// 0x80 alone is no level at all.
	wire := AppendConnect(nil, &ConnectSpec{Version: 0x80, ClientID: "x"})
	_, _, err := DecodeConnect(wire)
	assert.ErrorIs(t, err, ErrUnsupportedVersion)
}
