package packet

import (
	"errors"
	"strings"
)

// ErrNeedMore reports that the bytes given are a valid beginning of a packet
// but not the whole of it. It is not a fault of the input: read more and
// decode again from the start. It is returned as is, never wrapped, so the
// incomplete case costs no allocation.
var ErrNeedMore = errors.New("packet: need more bytes")

// The classes of failure. A decoder returns them wrapped in an [*Error];
// match them with errors.Is.
var (
	// ErrNotMQTT: the bytes are not an MQTT connection: the first byte is not
	// a CONNECT with flags 0 (an HTTP request, a TLS ClientHello, noise), or
	// the protocol name is not "MQTT" or "MQIsdp". A server closes the
	// connection without answering.
	ErrNotMQTT = errors.New("packet: not MQTT")
	// ErrMalformed: the packet breaks a rule of the specification. The
	// Code of the *Error tells the MQTT 5 reason: 0x81 Malformed Packet, or
	// 0x82 Protocol Error for a well-formed packet with a forbidden value (a
	// repeated property, a Receive Maximum of 0). An MQTT 5 server answers
	// with a CONNACK of that code; a 3.x server closes without a CONNACK.
	ErrMalformed = errors.New("packet: malformed packet")
	// ErrUnsupportedVersion: the protocol level is unknown or does not match
	// the protocol name [MQTT-3.1.2-2]. Answered with CONNACK return code
	// 0x01 (3.x) or reason code 0x84 (5).
	ErrUnsupportedVersion = errors.New("packet: unsupported protocol version")
	// ErrUnexpectedPacket: a packet of another type arrived where a decoder
	// expected a specific one (a CONNACK decoder given an AUTH packet).
	ErrUnexpectedPacket = errors.New("packet: unexpected packet type")
)

// Error describes why bytes were rejected. Err is one of the class
// sentinels above; the other fields say precisely what was wrong so that a
// server can answer (see [Error.Refusal]) and log the reason.
//
// An Error is allocated only when decoding fails; successful and incomplete
// decodes allocate nothing.
type Error struct {
	// Err is ErrNotMQTT, ErrMalformed, ErrUnsupportedVersion or
	// ErrUnexpectedPacket.
	Err error
	// Version is the protocol level of the packet if it was read (3, 4, 5
	// or the unknown level that was refused), else 0.
	Version byte
	// Code is the MQTT 5 reason code that fits the failure (0x81 Malformed
	// Packet, 0x82 Protocol Error, 0x84 Unsupported Protocol Version), also
	// when Version is 3.x; 0 for ErrNotMQTT, which is never answered.
	Code byte
	// Rule cites the specification: a normative statement such as
	// "MQTT-3.1.2-3", or a section such as "§3.1.2.11.3" where the rule has
	// no number. Sections and statements are those of MQTT 5.0 when Version
	// is 5, and of MQTT 3.1.1 otherwise (3.1 has no numbered rules; 3.1.1
	// restates them).
	Rule string
	// Msg says what was wrong, for logs.
	Msg string
}

// Error returns the class, the rule and the message, such as
// "packet: malformed packet: [MQTT-3.1.2-3] reserved connect flag is set".
func (e *Error) Error() string {
	var sb strings.Builder
	sb.WriteString(e.Err.Error())
	if e.Rule != "" {
		sb.WriteString(": [")
		sb.WriteString(e.Rule)
		sb.WriteString("]")
	}
	if e.Msg != "" {
		if e.Rule == "" {
			sb.WriteString(":")
		}
		sb.WriteString(" ")
		sb.WriteString(e.Msg)
	}
	return sb.String()
}

// Unwrap returns the class sentinel, so errors.Is(err, ErrMalformed) works.
func (e *Error) Unwrap() error { return e.Err }

// Refusal tells how a server answers the CONNECT that failed with e: with a
// CONNACK of the given version and code (ok true), or by closing the
// connection without one (ok false).
//
// MQTT 5 answers a malformed CONNECT with its reason code (§4.13.1); MQTT 3.x
// closes without a CONNACK [MQTT-4.8.0-1]; an unsupported protocol level is
// answered in the 3.1.1 form with return code 0x01 [MQTT-3.1.2-2], which
// every client version can read, unless the level is 5; bytes that are not
// MQTT are never answered.
func (e *Error) Refusal() (version, code byte, ok bool) {
	switch {
	case errors.Is(e.Err, ErrUnsupportedVersion):
		if e.Version == V5 {
			return V5, ConnackUnsupportedVersion, true
		}
		return V311, ReturnUnacceptableVersion, true
	case errors.Is(e.Err, ErrMalformed) && e.Version == V5:
		return V5, e.Code, true
	}
	return 0, 0, false
}

// newError builds the *Error of one failed check.
func newError(class error, version, code byte, rule, msg string) *Error {
	return &Error{Err: class, Version: version, Code: code, Rule: rule, Msg: msg}
}
