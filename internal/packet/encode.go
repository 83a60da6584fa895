package packet

import "encoding/binary"

// The encoders append to dst and return the extended slice, like
// strconv.AppendInt: they allocate only when dst lacks room. They reserve
// four bytes for each length written before it is known (the remaining
// length, each property length) and close the gap afterwards, so room
// means the packet's size plus four bytes per length: at most twelve.
// They do not validate what they are given: encoding a rule-breaking
// packet is how tests make one.

// AppendPingreq appends a PINGREQ (3.1.1 §3.12, 5.0 §3.12).
func AppendPingreq(dst []byte) []byte { return append(dst, byte(PINGREQ)<<4, 0) }

// AppendPingresp appends a PINGRESP (3.1.1 §3.13, 5.0 §3.13).
func AppendPingresp(dst []byte) []byte { return append(dst, byte(PINGRESP)<<4, 0) }

// AppendDisconnect appends a DISCONNECT. In MQTT 5 a code other than
// DisconnectNormal is sent as its Reason Code, without properties
// (§3.14.2.1); the normal code, and every 3.x DISCONNECT, has no body.
func AppendDisconnect(dst []byte, version, code byte) []byte {
	if version == V5 && code != DisconnectNormal {
		return append(dst, byte(DISCONNECT)<<4, 1, code)
	}
	return append(dst, byte(DISCONNECT)<<4, 0)
}

// UserProperty is a name/value pair of an MQTT 5 User Property (§3.1.2.11.8).
type UserProperty struct {
	Key, Value string
}

// beginLength reserves room for a variable byte integer that will hold the
// length of what is appended next; endLength fills it in.
func beginLength(dst []byte) ([]byte, int) {
	return append(dst, 0, 0, 0, 0), len(dst)
}

// endLength writes the number of bytes appended since beginLength returned
// at into the room reserved there, and closes the gap left by a length
// shorter than four bytes. It panics if the length exceeds
// MaxRemainingLength, which no MQTT packet can.
func endLength(dst []byte, at int) []byte {
	n := len(dst) - at - 4
	if n > MaxRemainingLength {
		panic("packet: encoded length exceeds MaxRemainingLength")
	}
	var tmp [4]byte
	size := len(appendVarint(tmp[:0], n))
	copy(dst[at:], tmp[:size])
	copy(dst[at+size:], dst[at+4:])
	return dst[:len(dst)-4+size]
}

// appendPrefixed appends s with its two-byte length: a UTF-8 Encoded
// String or Binary Data (5.0 §1.5.4, §1.5.6). It panics if s is longer than
// 65,535 bytes, which no MQTT string can be.
func appendPrefixed[T string | []byte](dst []byte, s T) []byte {
	if len(s) > 0xFFFF {
		panic("packet: string or binary field longer than 65535 bytes")
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// The property writers append one property when its value is present.

func appendPropByte(dst []byte, id PropertyID, v *byte) []byte {
	if v == nil {
		return dst
	}
	return append(dst, byte(id), *v)
}

func appendPropUint16(dst []byte, id PropertyID, v *uint16) []byte {
	if v == nil {
		return dst
	}
	return binary.BigEndian.AppendUint16(append(dst, byte(id)), *v)
}

func appendPropUint32(dst []byte, id PropertyID, v *uint32) []byte {
	if v == nil {
		return dst
	}
	return binary.BigEndian.AppendUint32(append(dst, byte(id)), *v)
}

// appendPropBytes appends a string or binary property, present when v is
// not nil.
func appendPropBytes(dst []byte, id PropertyID, v []byte) []byte {
	if v == nil {
		return dst
	}
	return appendPrefixed(append(dst, byte(id)), v)
}

// appendPropString appends a string property, present when v is not empty.
func appendPropString(dst []byte, id PropertyID, v string) []byte {
	if v == "" {
		return dst
	}
	return appendPrefixed(append(dst, byte(id)), v)
}

func appendUserProperties(dst []byte, props []UserProperty) []byte {
	for _, p := range props {
		dst = appendPrefixed(appendPrefixed(append(dst, byte(PropUserProperty)), p.Key), p.Value)
	}
	return dst
}
