package packet

import (
	"encoding/binary"
	"fmt"
	"iter"
	"strings"
)

// PropertyID identifies an MQTT 5 property (5.0 §2.2.2.2).
type PropertyID byte

// The property identifiers of MQTT 5.0 (§2.2.2.2, Table 2-4).
const (
	PropPayloadFormatIndicator          PropertyID = 0x01
	PropMessageExpiryInterval           PropertyID = 0x02
	PropContentType                     PropertyID = 0x03
	PropResponseTopic                   PropertyID = 0x08
	PropCorrelationData                 PropertyID = 0x09
	PropSubscriptionIdentifier          PropertyID = 0x0B
	PropSessionExpiryInterval           PropertyID = 0x11
	PropAssignedClientIdentifier        PropertyID = 0x12
	PropServerKeepAlive                 PropertyID = 0x13
	PropAuthenticationMethod            PropertyID = 0x15
	PropAuthenticationData              PropertyID = 0x16
	PropRequestProblemInformation       PropertyID = 0x17
	PropWillDelayInterval               PropertyID = 0x18
	PropRequestResponseInformation      PropertyID = 0x19
	PropResponseInformation             PropertyID = 0x1A
	PropServerReference                 PropertyID = 0x1C
	PropReasonString                    PropertyID = 0x1F
	PropReceiveMaximum                  PropertyID = 0x21
	PropTopicAliasMaximum               PropertyID = 0x22
	PropTopicAlias                      PropertyID = 0x23
	PropMaximumQoS                      PropertyID = 0x24
	PropRetainAvailable                 PropertyID = 0x25
	PropUserProperty                    PropertyID = 0x26
	PropMaximumPacketSize               PropertyID = 0x27
	PropWildcardSubscriptionAvailable   PropertyID = 0x28
	PropSubscriptionIdentifierAvailable PropertyID = 0x29
	PropSharedSubscriptionAvailable     PropertyID = 0x2A
)

// Properties is a read-only view of the properties of an MQTT 5 packet:
// the CONNECT's, the will's, or the CONNACK's. It holds the validated
// property bytes of the input (no copy) and which properties are present,
// so every accessor tells a missing property (ok false) from one whose
// value is zero. A packet holds only the properties its type allows (the
// decoders refuse the others), so the accessors of the properties of other
// packets report absent.
//
// The zero Properties is empty, as are the properties of a 3.x packet.
// A Properties is a value: safe for concurrent reads, valid as long as the
// decoded input is not modified.
type Properties struct {
	raw     []byte
	present uint64 // bit i set: property i is present
}

// ConnackProperties is the view of the properties of a CONNACK; the same
// type as [Properties].
type ConnackProperties = Properties

// Has reports whether the property is present at least once.
func (p Properties) Has(id PropertyID) bool { return id < 64 && p.present&(1<<id) != 0 }

// Raw returns the encoded properties, without their length prefix, as they
// were received.
func (p Properties) Raw() []byte { return p.raw }

// SessionExpiry returns the Session Expiry Interval in seconds (CONNECT
// §3.1.2.11.2, CONNACK §3.2.2.3.2).
func (p Properties) SessionExpiry() (uint32, bool) { return p.u32(PropSessionExpiryInterval) }

// ReceiveMaximum returns the Receive Maximum, never 0 (CONNECT §3.1.2.11.3,
// CONNACK §3.2.2.3.3).
func (p Properties) ReceiveMaximum() (uint16, bool) { return p.u16(PropReceiveMaximum) }

// MaximumPacketSize returns the Maximum Packet Size in bytes, never 0
// (CONNECT §3.1.2.11.4, CONNACK §3.2.2.3.6).
func (p Properties) MaximumPacketSize() (uint32, bool) { return p.u32(PropMaximumPacketSize) }

// TopicAliasMaximum returns the Topic Alias Maximum (CONNECT §3.1.2.11.5,
// CONNACK §3.2.2.3.8).
func (p Properties) TopicAliasMaximum() (uint16, bool) { return p.u16(PropTopicAliasMaximum) }

// RequestResponseInformation returns 0 or 1 (CONNECT §3.1.2.11.6).
func (p Properties) RequestResponseInformation() (byte, bool) {
	return p.u8(PropRequestResponseInformation)
}

// RequestProblemInformation returns 0 or 1 (CONNECT §3.1.2.11.7).
func (p Properties) RequestProblemInformation() (byte, bool) {
	return p.u8(PropRequestProblemInformation)
}

// AuthenticationMethod returns the name of the extended authentication
// method (CONNECT §3.1.2.11.9, CONNACK §3.2.2.3.17).
func (p Properties) AuthenticationMethod() ([]byte, bool) { return p.bytes(PropAuthenticationMethod) }

// AuthenticationData returns the authentication data (CONNECT
// §3.1.2.11.10, CONNACK §3.2.2.3.18).
func (p Properties) AuthenticationData() ([]byte, bool) { return p.bytes(PropAuthenticationData) }

// WillDelayInterval returns the will's delay in seconds (§3.1.3.2.2).
func (p Properties) WillDelayInterval() (uint32, bool) { return p.u32(PropWillDelayInterval) }

// PayloadFormatIndicator returns 0 (unspecified bytes) or 1 (UTF-8) for
// the will payload (§3.1.3.2.3).
func (p Properties) PayloadFormatIndicator() (byte, bool) { return p.u8(PropPayloadFormatIndicator) }

// MessageExpiryInterval returns the will message's lifetime in seconds
// (§3.1.3.2.4).
func (p Properties) MessageExpiryInterval() (uint32, bool) { return p.u32(PropMessageExpiryInterval) }

// ContentType returns the will payload's content type (§3.1.3.2.5).
func (p Properties) ContentType() ([]byte, bool) { return p.bytes(PropContentType) }

// ResponseTopic returns the will message's response topic (§3.1.3.2.6).
func (p Properties) ResponseTopic() ([]byte, bool) { return p.bytes(PropResponseTopic) }

// CorrelationData returns the will message's correlation data (§3.1.3.2.7).
func (p Properties) CorrelationData() ([]byte, bool) { return p.bytes(PropCorrelationData) }

// MaximumQoS returns 0 or 1 (CONNACK §3.2.2.3.4); absent means 2.
func (p Properties) MaximumQoS() (byte, bool) { return p.u8(PropMaximumQoS) }

// RetainAvailable returns 0 or 1 (CONNACK §3.2.2.3.5); absent means 1.
func (p Properties) RetainAvailable() (byte, bool) { return p.u8(PropRetainAvailable) }

// AssignedClientIdentifier returns the client ID the server assigned
// (CONNACK §3.2.2.3.7).
func (p Properties) AssignedClientIdentifier() ([]byte, bool) {
	return p.bytes(PropAssignedClientIdentifier)
}

// ReasonString returns the server's human-readable reason (CONNACK
// §3.2.2.3.9).
func (p Properties) ReasonString() ([]byte, bool) { return p.bytes(PropReasonString) }

// WildcardSubscriptionAvailable returns 0 or 1 (CONNACK §3.2.2.3.11).
func (p Properties) WildcardSubscriptionAvailable() (byte, bool) {
	return p.u8(PropWildcardSubscriptionAvailable)
}

// SubscriptionIdentifierAvailable returns 0 or 1 (CONNACK §3.2.2.3.12).
func (p Properties) SubscriptionIdentifierAvailable() (byte, bool) {
	return p.u8(PropSubscriptionIdentifierAvailable)
}

// SharedSubscriptionAvailable returns 0 or 1 (CONNACK §3.2.2.3.13).
func (p Properties) SharedSubscriptionAvailable() (byte, bool) {
	return p.u8(PropSharedSubscriptionAvailable)
}

// ServerKeepAlive returns the keep-alive the server imposes, in seconds
// (CONNACK §3.2.2.3.14).
func (p Properties) ServerKeepAlive() (uint16, bool) { return p.u16(PropServerKeepAlive) }

// ResponseInformation returns the basis for response topics (CONNACK
// §3.2.2.3.15).
func (p Properties) ResponseInformation() ([]byte, bool) { return p.bytes(PropResponseInformation) }

// ServerReference returns the other server(s) the client should use
// (CONNACK §3.2.2.3.16, §4.11).
func (p Properties) ServerReference() ([]byte, bool) { return p.bytes(PropServerReference) }

// UserProperties returns an iterator over the User Properties, in the
// order received.
func (p Properties) UserProperties() UserProperties {
	if !p.Has(PropUserProperty) {
		return UserProperties{}
	}
	return UserProperties{rest: p.raw}
}

// UserProperties iterates over the name/value pairs of User Property
// properties (5.0 §3.1.2.11.8) without allocating.
type UserProperties struct {
	rest []byte
}

// Next returns the next pair, or ok false when there is none left.
func (u *UserProperties) Next() (key, value []byte, ok bool) {
	for len(u.rest) > 0 {
		id, v, rest, split := splitProperty(u.rest)
		if !split {
			u.rest = nil
			return nil, nil, false
		}
		u.rest = rest
		if id == PropUserProperty {
			key, value = splitPair(v)
			return key, value, true
		}
	}
	return nil, nil, false
}

// All returns the remaining pairs as an iterator for range loops.
func (u UserProperties) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for k, v, ok := u.Next(); ok; k, v, ok = u.Next() {
			if !yield(k, v) {
				return
			}
		}
	}
}

// String lists the properties for logs, in the order received, such as
// "[Session Expiry Interval=3600 User Property=region:eu]". Binary values
// (Authentication Data, Correlation Data) show only their length.
func (p Properties) String() string {
	var sb strings.Builder
	sb.WriteString("[")
	for rest := p.raw; len(rest) > 0; {
		id, v, next, ok := splitProperty(rest)
		if !ok {
			break
		}
		if len(rest) < len(p.raw) {
			sb.WriteString(" ")
		}
		sb.WriteString(id.String())
		sb.WriteString("=")
		switch id.kind() {
		case kindByte:
			fmt.Fprint(&sb, v[0])
		case kindTwoByte:
			fmt.Fprint(&sb, binary.BigEndian.Uint16(v))
		case kindFourByte:
			fmt.Fprint(&sb, binary.BigEndian.Uint32(v))
		case kindString:
			fmt.Fprintf(&sb, "%q", v)
		case kindPair:
			key, val := splitPair(v)
			fmt.Fprintf(&sb, "%q:%q", key, val)
		default:
			fmt.Fprintf(&sb, "<%d bytes>", len(v))
		}
		rest = next
	}
	sb.WriteString("]")
	return sb.String()
}

// find returns the value of the first property id: the bytes of an
// integer, the content of a string or binary data.
func (p Properties) find(id PropertyID) ([]byte, bool) {
	if !p.Has(id) {
		return nil, false
	}
	for rest := p.raw; len(rest) > 0; {
		got, v, next, ok := splitProperty(rest)
		if !ok {
			break
		}
		if got == id {
			return v, true
		}
		rest = next
	}
	return nil, false
}

func (p Properties) u8(id PropertyID) (byte, bool) {
	v, ok := p.find(id)
	if !ok || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

func (p Properties) u16(id PropertyID) (uint16, bool) {
	v, ok := p.find(id)
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

func (p Properties) u32(id PropertyID) (uint32, bool) {
	v, ok := p.find(id)
	if !ok || len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

func (p Properties) bytes(id PropertyID) ([]byte, bool) { return p.find(id) }

// propKind is the data type of a property's value (5.0 §2.2.2.2).
type propKind byte

const (
	kindUnknown propKind = iota
	kindByte
	kindTwoByte
	kindFourByte
	kindVarint
	kindString
	kindBinary
	kindPair
)

// propInfo describes one property identifier.
type propInfo struct {
	name string
	kind propKind
}

var propInfos = [...]propInfo{
	PropPayloadFormatIndicator:          {"Payload Format Indicator", kindByte},
	PropMessageExpiryInterval:           {"Message Expiry Interval", kindFourByte},
	PropContentType:                     {"Content Type", kindString},
	PropResponseTopic:                   {"Response Topic", kindString},
	PropCorrelationData:                 {"Correlation Data", kindBinary},
	PropSubscriptionIdentifier:          {"Subscription Identifier", kindVarint},
	PropSessionExpiryInterval:           {"Session Expiry Interval", kindFourByte},
	PropAssignedClientIdentifier:        {"Assigned Client Identifier", kindString},
	PropServerKeepAlive:                 {"Server Keep Alive", kindTwoByte},
	PropAuthenticationMethod:            {"Authentication Method", kindString},
	PropAuthenticationData:              {"Authentication Data", kindBinary},
	PropRequestProblemInformation:       {"Request Problem Information", kindByte},
	PropWillDelayInterval:               {"Will Delay Interval", kindFourByte},
	PropRequestResponseInformation:      {"Request Response Information", kindByte},
	PropResponseInformation:             {"Response Information", kindString},
	PropServerReference:                 {"Server Reference", kindString},
	PropReasonString:                    {"Reason String", kindString},
	PropReceiveMaximum:                  {"Receive Maximum", kindTwoByte},
	PropTopicAliasMaximum:               {"Topic Alias Maximum", kindTwoByte},
	PropTopicAlias:                      {"Topic Alias", kindTwoByte},
	PropMaximumQoS:                      {"Maximum QoS", kindByte},
	PropRetainAvailable:                 {"Retain Available", kindByte},
	PropUserProperty:                    {"User Property", kindPair},
	PropMaximumPacketSize:               {"Maximum Packet Size", kindFourByte},
	PropWildcardSubscriptionAvailable:   {"Wildcard Subscription Available", kindByte},
	PropSubscriptionIdentifierAvailable: {"Subscription Identifier Available", kindByte},
	PropSharedSubscriptionAvailable:     {"Shared Subscription Available", kindByte},
}

// String returns the property's name from the specification.
func (id PropertyID) String() string {
	if int(id) < len(propInfos) && propInfos[id].kind != kindUnknown {
		return propInfos[id].name
	}
	return "unknown property"
}

func (id PropertyID) kind() propKind {
	if int(id) < len(propInfos) {
		return propInfos[id].kind
	}
	return kindUnknown
}

// splitProperty splits the first property off b. value is the bytes of an
// integer, the content of a string or binary data, or the whole encoded
// pair of a User Property. ok is false if the identifier is unknown or b
// ends inside the property.
func splitProperty(b []byte) (id PropertyID, value, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, nil, nil, false
	}
	id = PropertyID(b[0])
	b = b[1:]
	size := 0
	start := 0
	switch id.kind() {
	case kindByte:
		size = 1
	case kindTwoByte:
		size = 2
	case kindFourByte:
		size = 4
	case kindVarint:
		_, size = readVarint(b)
		if size <= 0 {
			return id, nil, nil, false
		}
	case kindString, kindBinary:
		if len(b) < 2 {
			return id, nil, nil, false
		}
		start, size = 2, 2+int(binary.BigEndian.Uint16(b))
	case kindPair:
		if len(b) < 2 {
			return id, nil, nil, false
		}
		keyEnd := 2 + int(binary.BigEndian.Uint16(b))
		if len(b) < keyEnd+2 {
			return id, nil, nil, false
		}
		size = keyEnd + 2 + int(binary.BigEndian.Uint16(b[keyEnd:]))
	default:
		return id, nil, nil, false
	}
	if len(b) < size {
		return id, nil, nil, false
	}
	return id, b[start:size:size], b[size:], true
}

// splitPair splits an encoded UTF-8 String Pair (5.0 §1.5.7) that
// splitProperty has checked.
func splitPair(b []byte) (key, value []byte) {
	keyEnd := 2 + int(binary.BigEndian.Uint16(b))
	return b[2:keyEnd:keyEnd], b[keyEnd+2:]
}
