package packet

import "strconv"

// Protocol levels, the byte after the protocol name in a CONNECT.
const (
	V31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 byte = 4 // MQTT 3.1.1, protocol name "MQTT"
	V5   byte = 5 // MQTT 5.0, protocol name "MQTT"
)

// Type is the MQTT control packet type, the high nibble of the first byte
// (MQTT 3.1.1 §2.2.1, MQTT 5.0 §2.1.2).
type Type byte

// The control packet types. AUTH exists only in MQTT 5.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// String returns the packet type's name, such as "CONNECT".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// CONNACK reason codes of MQTT 5.0 (§3.2.2.2). Codes below 0x80 are
// success; from 0x80 on, the server refuses the connection and closes it.
const (
	ConnackSuccess                     byte = 0x00
	ConnackUnspecifiedError            byte = 0x80
	ConnackMalformed                   byte = 0x81
	ConnackProtocolError               byte = 0x82
	ConnackImplementationSpecificError byte = 0x83
	ConnackUnsupportedVersion          byte = 0x84
	ConnackClientIdentifierNotValid    byte = 0x85
	ConnackBadUsernameOrPassword       byte = 0x86
	ConnackNotAuthorized               byte = 0x87
	ConnackServerUnavailable           byte = 0x88
	ConnackServerBusy                  byte = 0x89
	ConnackBanned                      byte = 0x8A
	ConnackBadAuthenticationMethod     byte = 0x8C
	ConnackTopicNameInvalid            byte = 0x90
	ConnackPacketTooLarge              byte = 0x95
	ConnackQuotaExceeded               byte = 0x97
	ConnackPayloadFormatInvalid        byte = 0x99
	ConnackRetainNotSupported          byte = 0x9A
	ConnackQoSNotSupported             byte = 0x9B
	ConnackUseAnotherServer            byte = 0x9C
	ConnackServerMoved                 byte = 0x9D
	ConnackConnectionRateExceeded      byte = 0x9F
)

// CONNACK return codes of MQTT 3.1 and 3.1.1 (3.1.1 §3.2.2.3).
const (
	ReturnAccepted            byte = 0x00
	ReturnUnacceptableVersion byte = 0x01
	ReturnIdentifierRejected  byte = 0x02
	ReturnServerUnavailable   byte = 0x03
	ReturnBadCredentials      byte = 0x04
	ReturnNotAuthorized       byte = 0x05
)

// DISCONNECT reason codes of MQTT 5.0 that a proxy or a health check sends
// (§3.14.2.1 lists them all).
const (
	DisconnectNormal             byte = 0x00
	DisconnectUnspecifiedError   byte = 0x80
	DisconnectMalformed          byte = 0x81
	DisconnectProtocolError      byte = 0x82
	DisconnectServerBusy         byte = 0x89
	DisconnectServerShuttingDown byte = 0x8B
	DisconnectKeepAliveTimeout   byte = 0x8D
	DisconnectPacketTooLarge     byte = 0x95
	DisconnectUseAnotherServer   byte = 0x9C
	DisconnectServerMoved        byte = 0x9D
)
