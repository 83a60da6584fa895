package mqttlb

import (
	"errors"
	"net"
	"time"

	"github.com/mqttlb/mqttlb/internal/packet"
)

// rejectWriteTimeout bounds the write of a refusal CONNACK: a client that
// does not read must not hold the proxy.
const rejectWriteTimeout = 2 * time.Second

// AppendRefusal appends the CONNACK that answers a refusal for reason in
// the client's protocol version, and reports whether the protocol has an
// answer at all. Where it has none (non-MQTT bytes, timeouts, a malformed
// or oversized MQTT 3.x CONNECT) the right answer is to close writing
// nothing, and AppendRefusal returns dst unchanged and false.
//
// The mapping (shared/DESIGN.md §2): ErrNoBackend → 0x88 / 0x03;
// ErrUnsupportedVersion → 0x84 / 0x01; ErrTooLarge → 0x95 (MQTT 5 only);
// ErrQuotaExceeded → 0x97 / 0x03; ErrMalformed → 0x81 (MQTT 5 only);
// *MovedError → 0x9C or 0x9D with a Server Reference / 0x03.
func AppendRefusal(dst []byte, version byte, reason error) ([]byte, bool) {
	var moved *MovedError
	v5 := version >= packet.V5
	switch {
	case errors.Is(reason, ErrNotMQTT), errors.Is(reason, ErrConnectTimeout),
		errors.Is(reason, ErrClientClosed):
		return dst, false
	case errors.Is(reason, ErrUnsupportedVersion):
		if v5 {
			return packet.AppendConnack(dst, packet.V5, false, packet.ConnackUnsupportedVersion, nil), true
		}
		if version == 0 {
			return dst, false
		}
		return packet.AppendConnack(dst, version, false, packet.ReturnUnacceptableVersion, nil), true
	case version == 0:
		// Without a protocol level there is no CONNACK format to use.
		return dst, false
	case errors.Is(reason, ErrMalformed):
		if v5 {
			return packet.AppendConnack(dst, packet.V5, false, packet.ConnackMalformed, nil), true
		}
		return dst, false
	case errors.Is(reason, ErrTooLarge):
		if v5 {
			return packet.AppendConnack(dst, packet.V5, false, packet.ConnackPacketTooLarge, nil), true
		}
		return dst, false
	case errors.Is(reason, ErrQuotaExceeded):
		if v5 {
			return packet.AppendConnack(dst, packet.V5, false, packet.ConnackQuotaExceeded, nil), true
		}
	case errors.As(reason, &moved):
		if v5 {
			code := byte(packet.ConnackUseAnotherServer)
			if moved.Permanent {
				code = packet.ConnackServerMoved
			}
			return packet.AppendConnack(dst, packet.V5, false, code, &packet.ConnackProps{ServerReference: moved.Server}), true
		}
	default: // ErrNoBackend and anything else: the server cannot serve.
		if v5 {
			return packet.AppendConnack(dst, packet.V5, false, packet.ConnackServerUnavailable, nil), true
		}
	}
	return packet.AppendConnack(dst, version, false, packet.ReturnServerUnavailable, nil), true
}

// Reject answers a refused client as its protocol version allows (see
// AppendRefusal) and closes conn. version is the CONNECT's protocol
// level, 0 if unknown. It returns the error of the write, if any.
func Reject(conn net.Conn, version byte, reason error) error {
	if ws, ok := conn.(*wsConn); ok {
		defer ws.closeRefused(reason) // a close code that says why
	} else {
		defer conn.Close()
	}
	var buf [64]byte
	answer, ok := AppendRefusal(buf[:0], version, reason)
	if !ok {
		return nil
	}
	_ = conn.SetWriteDeadline(time.Now().Add(rejectWriteTimeout))
	_, err := conn.Write(answer)
	if err == nil {
		// Let the CONNACK leave before the close: a close with unread
		// input in the socket would reset the connection and could
		// discard the answer (RFC 1122 §4.2.2.13).
		closeWriteThenDrain(conn)
	}
	return err
}

// closeWriteThenDrain half-closes conn and discards what the client still
// sends for a short while, so the final close is a FIN, not a reset.
func closeWriteThenDrain(conn net.Conn) {
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var sink [4096]byte
	for range 64 {
		if _, err := conn.Read(sink[:]); err != nil {
			return
		}
	}
}
