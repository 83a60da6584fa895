package packet

import (
	"fmt"
	"log/slog"
	"strings"
)

// Connect is a decoded CONNECT packet (3.1.1 §3.1, 5.0 §3.1). Its byte
// slices are views into the decoded input, which must stay unmodified
// while they are used; copy what must outlive it. A field whose flag is
// unset is nil. A Connect is a value: safe for concurrent reads.
//
// The password is unexported so that printing or logging a Connect cannot
// reveal it: [Connect.String], GoString and LogValue leave it out; read it
// with [Connect.Password].
type Connect struct {
	// ProtocolName is "MQTT", or "MQIsdp" for MQTT 3.1.
	ProtocolName []byte
	// Version is the protocol level: V31, V311 or V5.
	Version byte
	// Bridge reports that the level byte carried the 0x80 bit with which
	// a Mosquitto bridge (try_private) announces itself; Version is the
	// level without it. The specifications do not define the bit; the
	// brokers a proxy fronts (Mosquitto, EMQX, VerneMQ) accept it.
	Bridge bool
	// CleanStart is Clean Session in 3.x.
	CleanStart bool

	WillFlag   bool
	WillQoS    byte
	WillRetain bool
	WillTopic  []byte
	// WillPayload is the will message. A Payload Format Indicator of 1
	// does not make the decoder check that it is UTF-8: the specification
	// lets a server check (§3.1.3.2.3), and the broker behind a proxy is
	// the one that publishes it.
	WillPayload    []byte
	WillProperties Properties // MQTT 5 only

	UsernameFlag bool
	Username     []byte
	PasswordFlag bool
	password     []byte

	// KeepAlive is in seconds; 0 turns the keep-alive mechanism off.
	KeepAlive uint16
	// ClientID may be empty. Its length and characters are left to the
	// broker to judge (3.1 allows 1 to 23 characters; 3.1.1 and 5.0 let a
	// server accept more, and an empty one asks the server to assign one).
	ClientID []byte
	// Properties holds the CONNECT properties of MQTT 5.
	Properties Properties
}

// Password returns the password, nil when PasswordFlag is unset. It is
// Binary Data: any bytes, also in MQTT 3.1, whose specification calls it a
// string but whose clients send what they have.
func (c *Connect) Password() []byte { return c.password }

// DecodeConnect decodes the CONNECT at the start of b, which may hold more
// than the packet; n is the size of the whole CONNECT, fixed header
// included. It allocates nothing unless it fails.
//
// It returns [ErrNeedMore] while b is a valid beginning of a CONNECT (one
// byte, a remaining length split across reads, half a string), and an
// [*Error] as soon as the bytes prove the packet bad, however many are
// still to come: a first byte other than 0x10 is [ErrNotMQTT] at once.
// Every field is bounded by the declared remaining length, and a
// remaining length that the fields do not fill exactly is malformed. On
// any error n is 0. There is no size limit: a caller that caps the size
// reads the remaining length with [DecodeFixedHeader] first.
//
// The checks, each failure an [*Error] citing its rule:
//   - the first packet is a CONNECT [MQTT-3.1.0-1] with flags 0
//     [MQTT-2.2.2-2], else ErrNotMQTT;
//   - the remaining length has at most four bytes (§2.2.3), the fewest in
//     MQTT 5 [MQTT-1.5.5-1];
//   - the protocol name is exactly "MQTT" or "MQIsdp" [MQTT-3.1.2-1], else
//     ErrNotMQTT;
//   - the level matches the name: "MQIsdp" 3, "MQTT" 4 or 5
//     [MQTT-3.1.2-2], else ErrUnsupportedVersion; the 0x80 bit that
//     Mosquitto bridges (try_private) add to the level is accepted and
//     reported as Bridge, since the brokers behind a proxy accept it;
//   - the reserved connect flag is 0 [MQTT-3.1.2-3]; Will QoS is not 3 and
//     Will QoS and Will Retain are 0 without the Will Flag (3.1.1
//     [MQTT-3.1.2-13] to [MQTT-3.1.2-15], 5.0 [MQTT-3.1.2-11] to
//     [MQTT-3.1.2-13]); in 3.x a password needs a user name
//     [MQTT-3.1.2-22];
//   - every string is well-formed UTF-8 without U+0000 ([MQTT-1.5.3-1]
//     [MQTT-1.5.3-2], 5.0 [MQTT-1.5.4-1] [MQTT-1.5.4-2]);
//   - MQTT 5 properties are allowed in their block (§2.2.2.2), appear once
//     unless they are User Properties, and hold valid values (Receive
//     Maximum and Maximum Packet Size not 0, the request flags and the
//     Payload Format Indicator 0 or 1, Authentication Data only with an
//     Authentication Method), else Protocol Error (Code 0x82).
func DecodeConnect(b []byte) (c Connect, n int, err error) {
	if len(b) == 0 {
		return Connect{}, 0, ErrNeedMore
	}
	if b[0] != byte(CONNECT)<<4 {
		return Connect{}, 0, notConnect(b[0])
	}
	length, headerLen := readVarint(b[1:])
	switch {
	case headerLen < 0:
		return Connect{}, 0, newError(ErrMalformed, 0, ConnackMalformed, "§2.2.3",
			"remaining length longer than four bytes")
	case headerLen == 0:
		return Connect{}, 0, ErrNeedMore
	}
	cur := cursor{b: b, pos: 1 + headerLen, end: 1 + headerLen + length}
	if err := c.decodeVariableHeader(&cur, headerLen); err != nil {
		return Connect{}, 0, err
	}
	if err := c.decodePayload(&cur); err != nil {
		return Connect{}, 0, err
	}
	if cur.pos != cur.end {
		return Connect{}, 0, cur.malformed(cur.rule("§2.2.3", "§2.1.4"),
			"remaining length is longer than the CONNECT's fields")
	}
	return c, cur.end, nil
}

// notConnect explains why a first byte is not the start of an MQTT
// connection.
func notConnect(first byte) *Error {
	if Type(first>>4) == CONNECT {
		return newError(ErrNotMQTT, 0, 0, "MQTT-2.2.2-2", fmt.Sprintf("CONNECT flags are 0x%X, not 0", first&0x0F))
	}
	return newError(ErrNotMQTT, 0, 0, "MQTT-3.1.0-1", fmt.Sprintf("first byte 0x%02X is not a CONNECT", first))
}

// Protocol names (3.1.1 §3.1.2.1; MQTT 3.1 used "MQIsdp").
const (
	nameMQTT   = "MQTT"
	nameMQIsdp = "MQIsdp"
)

// decodeVariableHeader reads the protocol name and level, the connect
// flags, the keep-alive and, in MQTT 5, the CONNECT properties (3.1.1
// §3.1.2, 5.0 §3.1.2).
func (c *Connect) decodeVariableHeader(cur *cursor, headerLen int) error {
	head, err := cur.peek(2, "protocol name")
	if err != nil {
		return err
	}
	if len(head) > 0 && head[0] != 0 {
		return newError(ErrNotMQTT, 0, 0, "MQTT-3.1.2-1", "protocol name is longer than 255 bytes")
	}
	nameLen, err := cur.u16("protocol name")
	if err != nil {
		return err
	}
	want := nameMQTT
	switch int(nameLen) {
	case len(nameMQTT):
	case len(nameMQIsdp):
		want = nameMQIsdp
	default:
		return newError(ErrNotMQTT, 0, 0, "MQTT-3.1.2-1", fmt.Sprintf("protocol name of %d bytes", nameLen))
	}
	// Compare what has arrived, so that "MQTX" is refused before its
	// packet is complete.
	arrived, err := cur.peek(len(want), "protocol name")
	if err != nil {
		return err
	}
	if string(arrived) != want[:len(arrived)] {
		return newError(ErrNotMQTT, 0, 0, "MQTT-3.1.2-1", fmt.Sprintf("protocol name %q is not %q", arrived, want))
	}
	if c.ProtocolName, err = cur.take(len(want), "protocol name"); err != nil {
		return err
	}
	level, err := cur.u8("protocol level")
	if err != nil {
		return err
	}
	const bridgeBit = 0x80
	if level&bridgeBit != 0 && level != bridgeBit {
		c.Bridge, level = true, level&^bridgeBit
	}
	if !(want == nameMQIsdp && level == V31 || want == nameMQTT && (level == V311 || level == V5)) {
		return newError(ErrUnsupportedVersion, level, ConnackUnsupportedVersion, "MQTT-3.1.2-2",
			fmt.Sprintf("protocol %s level %d", want, level))
	}
	c.Version, cur.version = level, level
	if level == V5 && headerLen != varintLen(cur.end-headerLen-1) {
		return cur.malformed("MQTT-1.5.5-1", "remaining length is not in the fewest bytes")
	}
	flags, err := cur.u8("connect flags")
	if err != nil {
		return err
	}
	if err := c.setFlags(cur, flags); err != nil {
		return err
	}
	if c.KeepAlive, err = cur.u16("keep alive"); err != nil {
		return err
	}
	if level == V5 {
		c.Properties, err = cur.properties(&connectProps)
	}
	return err
}

// Connect flags (3.1.1 §3.1.2.3, 5.0 §3.1.2.3).
const (
	flagReserved   = 0x01
	flagCleanStart = 0x02
	flagWill       = 0x04
	flagWillQoS    = 0x18
	flagWillRetain = 0x20
	flagPassword   = 0x40
	flagUsername   = 0x80
)

func (c *Connect) setFlags(cur *cursor, flags byte) error {
	if flags&flagReserved != 0 {
		return cur.malformed("MQTT-3.1.2-3", "reserved connect flag is set")
	}
	c.CleanStart = flags&flagCleanStart != 0
	c.WillFlag = flags&flagWill != 0
	c.WillQoS = flags & flagWillQoS >> 3
	c.WillRetain = flags&flagWillRetain != 0
	c.PasswordFlag = flags&flagPassword != 0
	c.UsernameFlag = flags&flagUsername != 0
	switch {
	case c.WillFlag && c.WillQoS == 3:
		return cur.malformed(cur.rule("MQTT-3.1.2-14", "MQTT-3.1.2-12"), "Will QoS is 3")
	case !c.WillFlag && c.WillQoS != 0:
		return cur.malformed(cur.rule("MQTT-3.1.2-13", "MQTT-3.1.2-11"), "Will QoS without Will Flag")
	case !c.WillFlag && c.WillRetain:
		return cur.malformed(cur.rule("MQTT-3.1.2-15", "MQTT-3.1.2-13"), "Will Retain without Will Flag")
	case c.Version != V5 && c.PasswordFlag && !c.UsernameFlag:
		return cur.malformed("MQTT-3.1.2-22", "Password Flag without User Name Flag")
	}
	return nil
}

// decodePayload reads the client identifier, the will and the
// credentials, in that order (3.1.1 §3.1.3, 5.0 §3.1.3).
func (c *Connect) decodePayload(cur *cursor) (err error) {
	if c.ClientID, err = cur.utf8String("client identifier"); err != nil {
		return err
	}
	if c.WillFlag {
		if c.Version == V5 {
			if c.WillProperties, err = cur.properties(&willProps); err != nil {
				return err
			}
		}
		if c.WillTopic, err = cur.utf8String("will topic"); err != nil {
			return err
		}
		if c.WillPayload, err = cur.binary("will payload"); err != nil {
			return err
		}
	}
	if c.UsernameFlag {
		if c.Username, err = cur.utf8String("user name"); err != nil {
			return err
		}
	}
	if c.PasswordFlag {
		if c.password, err = cur.binary("password"); err != nil {
			return err
		}
	}
	return nil
}

// String describes the CONNECT for logs, without the password. It has a
// value receiver so that a Connect printed by value is redacted too.
func (c Connect) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "CONNECT{%s %s client=%q clean=%t keepalive=%d", c.ProtocolName, versionName(c.Version),
		c.ClientID, c.CleanStart, c.KeepAlive)
	if c.UsernameFlag {
		fmt.Fprintf(&sb, " user=%q", c.Username)
	}
	if c.PasswordFlag {
		sb.WriteString(" password=<redacted>")
	}
	if c.WillFlag {
		fmt.Fprintf(&sb, " will={topic=%q qos=%d retain=%t payload=<%d bytes>", c.WillTopic, c.WillQoS,
			c.WillRetain, len(c.WillPayload))
		if len(c.WillProperties.raw) > 0 {
			fmt.Fprintf(&sb, " props=%v", c.WillProperties)
		}
		sb.WriteString("}")
	}
	if len(c.Properties.raw) > 0 {
		fmt.Fprintf(&sb, " props=%v", c.Properties)
	}
	sb.WriteString("}")
	return sb.String()
}

// GoString is String, so that %#v does not print the password either.
func (c Connect) GoString() string { return c.String() }

// LogValue is String, so that structured loggers (which would otherwise
// walk the fields) print the redacted form.
func (c Connect) LogValue() slog.Value { return slog.StringValue(c.String()) }

// versionName returns the protocol version for humans.
func versionName(level byte) string {
	switch level {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("level %d", level)
}
