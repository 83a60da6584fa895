// Package packet reads and writes the MQTT packets a proxy and a health
// check need, for MQTT 3.1, 3.1.1 and 5.0. It decodes the fixed header of
// any packet, CONNECT and CONNACK, and encodes CONNACK, CONNECT, PINGREQ,
// PINGRESP and DISCONNECT.
//
// Decoding is offset based and allocates nothing: the decoded values are
// views into the input, which the caller keeps unmodified while it uses
// them. A decoder is given whatever bytes have arrived and answers one of
// three ways: the packet and its size; [ErrNeedMore], when the bytes are a
// valid beginning of the packet (so a remaining length split across reads
// is fine); or an [*Error] as soon as the bytes prove the packet bad, with
// its class ([ErrNotMQTT], [ErrMalformed], [ErrUnsupportedVersion]), the
// MQTT 5 reason code and the rule of the specification it breaks.
//
//	c, n, err := packet.DecodeConnect(buf)
//	var perr *packet.Error
//	switch {
//	case errors.Is(err, packet.ErrNeedMore):
//		// read more into buf and decode again
//	case errors.As(err, &perr):
//		if version, code, ok := perr.Refusal(); ok {
//			conn.Write(packet.AppendConnack(nil, version, false, code, nil))
//		}
//		conn.Close()
//	default:
//		route(string(c.ClientID), c.Version) // then forward buf[:n] as received
//	}
//
// Encoders append to a caller's buffer, like strconv.AppendInt, and
// allocate only when it lacks room.
//
// Rules are cited as in the specifications: "[MQTT-3.1.2-3]" is a
// normative statement, "§3.1.2.11" a section. The 3.1.1 numbering applies
// to MQTT 3.1 and 3.1.1, the 5.0 numbering to MQTT 5.
package packet
