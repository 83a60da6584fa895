package mqttlb

import (
	"errors"
	"fmt"

	"github.com/mqttlb/mqttlb/internal/packet"
)

// Why a connection was refused before it reached a backend. Every error the
// read, route and pick steps return wraps exactly one of these, so callers
// can count and log refusals with errors.Is. Reject turns each into the
// answer the client's protocol version allows (shared/DESIGN.md §2).
var (
	// ErrNotMQTT: the first bytes are not an MQTT CONNECT (an HTTP request,
	// a TLS ClientHello, random bytes). Answer: close, writing nothing.
	ErrNotMQTT = errors.New("mqttlb: not MQTT")
	// ErrMalformed: a CONNECT that breaks the specification. Answer:
	// CONNACK 0x81 for MQTT 5, close without CONNACK for 3.1 and 3.1.1
	// (MQTT 3.1.1 §4.8 has no return code for it).
	ErrMalformed = errors.New("mqttlb: malformed CONNECT")
	// ErrUnsupportedVersion: a protocol level the proxy does not speak.
	// Answer: CONNACK 0x84 (level 5 and up) or return code 0x01.
	ErrUnsupportedVersion = errors.New("mqttlb: unsupported protocol version")
	// ErrTooLarge: the CONNECT declares more than MaxConnectSize bytes.
	// Answer: CONNACK 0x95 for MQTT 5, close for 3.x.
	ErrTooLarge = errors.New("mqttlb: CONNECT too large")
	// ErrConnectTimeout: no whole CONNECT before ConnectTimeout. Answer:
	// close.
	ErrConnectTimeout = errors.New("mqttlb: no CONNECT before the deadline")
	// ErrClientClosed: the client went away before sending a whole
	// CONNECT. Nothing to answer.
	ErrClientClosed = errors.New("mqttlb: client closed before CONNECT")
	// ErrNoBackend: no route matched and no default pool, or the pool has
	// no usable backend, or every dial failed. Answer: CONNACK 0x88 or
	// return code 0x03 (Server unavailable).
	ErrNoBackend = errors.New("mqttlb: no backend available")
	// ErrQuotaExceeded: a rate or connection limit refused the client.
	// Answer: CONNACK 0x97 or return code 0x03.
	ErrQuotaExceeded = errors.New("mqttlb: quota exceeded")
)

// MovedError sends an MQTT 5 client elsewhere: CONNACK 0x9C (Use another
// server) or 0x9D (Server moved, when Permanent) with a Server Reference
// (MQTT 5.0 §4.11). MQTT 3.x clients get return code 0x03.
type MovedError struct {
	// Server is the Server Reference: "host:port" or any string the
	// clients understand.
	Server    string
	Permanent bool
}

func (e *MovedError) Error() string {
	if e.Permanent {
		return "mqttlb: server moved to " + e.Server
	}
	return "mqttlb: use another server: " + e.Server
}

// classifyPacketError wraps a decode error of internal/packet into the
// mqttlb sentinel that decides the answer, keeping the detail.
func classifyPacketError(err error) error {
	switch {
	case errors.Is(err, packet.ErrNotMQTT):
		return fmt.Errorf("%w: %w", ErrNotMQTT, err)
	case errors.Is(err, packet.ErrUnsupportedVersion):
		return fmt.Errorf("%w: %w", ErrUnsupportedVersion, err)
	default:
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
}

// RefusalReason returns a short, stable name for why err refused a
// connection, for metrics labels and log fields: "not_mqtt", "malformed",
// "unsupported_version", "too_large", "connect_timeout", "client_closed",
// "tls_handshake", "no_backend", "quota_exceeded", "moved", or "other".
func RefusalReason(err error) string {
	var moved *MovedError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNotMQTT):
		return "not_mqtt"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrUnsupportedVersion):
		return "unsupported_version"
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrConnectTimeout):
		return "connect_timeout"
	case errors.Is(err, ErrClientClosed):
		return "client_closed"
	case errors.Is(err, ErrTLSHandshake):
		return "tls_handshake"
	case errors.Is(err, ErrNoBackend):
		return "no_backend"
	case errors.Is(err, ErrQuotaExceeded):
		return "quota_exceeded"
	case errors.As(err, &moved):
		return "moved"
	}
	return "other"
}
