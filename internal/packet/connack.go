package packet

import "fmt"

// Connack is a decoded CONNACK packet (3.1.1 §3.2, 5.0 §3.2). Properties
// is a view into the decoded input.
type Connack struct {
	// Version is the protocol level of the CONNECT it answers.
	Version        byte
	SessionPresent bool
	// Code is the return code (3.x, ReturnXxx) or reason code (5,
	// ConnackXxx); 0 accepts the connection in every version.
	Code byte
	// Properties holds the CONNACK properties of MQTT 5.
	Properties ConnackProperties
}

// Connack acknowledge flags (3.1.1 §3.2.2.1, 5.0 §3.2.2.1.1).
const (
	connackSessionPresent = 0x01
	connackReservedFlags  = 0xFE
)

// DecodeConnack decodes the CONNACK at the start of b, which answers a
// CONNECT of the given protocol level; n is its size, header included. It
// returns [ErrNeedMore] while b is a valid beginning, and an [*Error] when
// the first byte is not a CONNACK with flags 0 (ErrUnexpectedPacket: a
// server may send an AUTH first), when reserved acknowledge flags are set
// (§3.2.2.1), when a 3.x CONNACK's remaining length is not 2, or when MQTT
// 5 properties break the rules [DecodeConnect] applies. A 5.0 CONNACK
// whose remaining length is 2 has no properties. Codes are not checked
// against the known ones: the caller decides what an unknown refusal
// means. It allocates nothing unless it fails.
func DecodeConnack(b []byte, version byte) (Connack, int, error) {
	if version != V31 && version != V311 && version != V5 {
		return Connack{}, 0, newError(ErrUnsupportedVersion, version, ConnackUnsupportedVersion, "MQTT-3.1.2-2",
			fmt.Sprintf("cannot decode a CONNACK of protocol level %d", version))
	}
	if len(b) == 0 {
		return Connack{}, 0, ErrNeedMore
	}
	if b[0] != byte(CONNACK)<<4 {
		if Type(b[0]>>4) == CONNACK {
			return Connack{}, 0, newError(ErrMalformed, version, ConnackMalformed, "MQTT-2.2.2-2",
				fmt.Sprintf("CONNACK flags are 0x%X, not 0", b[0]&0x0F))
		}
		return Connack{}, 0, newError(ErrUnexpectedPacket, version, ConnackProtocolError, "§3.2",
			fmt.Sprintf("%v where a CONNACK was expected", Type(b[0]>>4)))
	}
	length, headerLen := readVarint(b[1:])
	switch {
	case headerLen < 0:
		return Connack{}, 0, newError(ErrMalformed, version, ConnackMalformed, "§2.2.3",
			"remaining length longer than four bytes")
	case headerLen == 0:
		return Connack{}, 0, ErrNeedMore
	}
	cur := cursor{b: b, pos: 1 + headerLen, end: 1 + headerLen + length, version: version}
	if version == V5 && headerLen != varintLen(length) {
		return Connack{}, 0, cur.malformed("MQTT-1.5.5-1", "remaining length is not in the fewest bytes")
	}
	if version != V5 && length != 2 {
		return Connack{}, 0, cur.malformed("§3.2.1", fmt.Sprintf("CONNACK remaining length is %d, not 2", length))
	}
	flags, err := cur.u8("acknowledge flags")
	if err != nil {
		return Connack{}, 0, err
	}
	if flags&connackReservedFlags != 0 {
		return Connack{}, 0, cur.malformed(cur.rule("§3.2.2.1", "§3.2.2.1.1"), "reserved acknowledge flags are set")
	}
	ack := Connack{Version: version, SessionPresent: flags&connackSessionPresent != 0}
	if ack.Code, err = cur.u8("reason code"); err != nil {
		return Connack{}, 0, err
	}
	if version == V5 && cur.pos < cur.end {
		if ack.Properties, err = cur.properties(&connackProps); err != nil {
			return Connack{}, 0, err
		}
		if cur.pos != cur.end {
			return Connack{}, 0, cur.malformed("§2.1.4", "remaining length is longer than the CONNACK's fields")
		}
	}
	return ack, cur.end, nil
}

// ConnackProps are the CONNACK properties of MQTT 5 (§3.2.2.3) for
// [AppendConnack]. Nil pointers and empty strings are not sent; a nil
// AuthenticationData is not sent.
type ConnackProps struct {
	SessionExpiry                   *uint32
	ReceiveMaximum                  *uint16
	MaximumQoS                      *byte
	RetainAvailable                 *byte
	MaximumPacketSize               *uint32
	AssignedClientIdentifier        string
	TopicAliasMaximum               *uint16
	ReasonString                    string
	UserProperties                  []UserProperty
	WildcardSubscriptionAvailable   *byte
	SubscriptionIdentifierAvailable *byte
	SharedSubscriptionAvailable     *byte
	ServerKeepAlive                 *uint16
	ResponseInformation             string
	ServerReference                 string
	AuthenticationMethod            string
	AuthenticationData              []byte
}

// AppendConnack appends a CONNACK answering a CONNECT of the given
// protocol level with the given code: a ReturnXxx code for 3.x, a
// ConnackXxx reason code for 5. Session present is sent only with code 0
// (3.1.1 [MQTT-3.2.2-4], 5.0 [MQTT-3.2.2-6]) and never in 3.1, which does
// not have it. props may be nil, and is ignored for 3.x.
func AppendConnack(dst []byte, version byte, sessionPresent bool, code byte, props *ConnackProps) []byte {
	var flags byte
	if sessionPresent && code == 0 && version != V31 {
		flags = connackSessionPresent
	}
	if version != V5 {
		return append(dst, byte(CONNACK)<<4, 2, flags, code)
	}
	dst = append(dst, byte(CONNACK)<<4)
	dst, remaining := beginLength(dst)
	dst = append(dst, flags, code)
	dst, at := beginLength(dst)
	if props != nil {
		dst = props.append(dst)
	}
	dst = endLength(dst, at)
	return endLength(dst, remaining)
}

func (p *ConnackProps) append(dst []byte) []byte {
	dst = appendPropUint32(dst, PropSessionExpiryInterval, p.SessionExpiry)
	dst = appendPropUint16(dst, PropReceiveMaximum, p.ReceiveMaximum)
	dst = appendPropByte(dst, PropMaximumQoS, p.MaximumQoS)
	dst = appendPropByte(dst, PropRetainAvailable, p.RetainAvailable)
	dst = appendPropUint32(dst, PropMaximumPacketSize, p.MaximumPacketSize)
	dst = appendPropString(dst, PropAssignedClientIdentifier, p.AssignedClientIdentifier)
	dst = appendPropUint16(dst, PropTopicAliasMaximum, p.TopicAliasMaximum)
	dst = appendPropString(dst, PropReasonString, p.ReasonString)
	dst = appendUserProperties(dst, p.UserProperties)
	dst = appendPropByte(dst, PropWildcardSubscriptionAvailable, p.WildcardSubscriptionAvailable)
	dst = appendPropByte(dst, PropSubscriptionIdentifierAvailable, p.SubscriptionIdentifierAvailable)
	dst = appendPropByte(dst, PropSharedSubscriptionAvailable, p.SharedSubscriptionAvailable)
	dst = appendPropUint16(dst, PropServerKeepAlive, p.ServerKeepAlive)
	dst = appendPropString(dst, PropResponseInformation, p.ResponseInformation)
	dst = appendPropString(dst, PropServerReference, p.ServerReference)
	dst = appendPropString(dst, PropAuthenticationMethod, p.AuthenticationMethod)
	return appendPropBytes(dst, PropAuthenticationData, p.AuthenticationData)
}
