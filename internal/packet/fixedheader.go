package packet

// MaxRemainingLength is the largest remaining length a fixed header can
// carry: a variable byte integer of four bytes (3.1.1 §2.2.3, 5.0 §1.5.5).
const MaxRemainingLength = 268_435_455

// FixedHeader is the first part of every MQTT control packet: the type, its
// four flag bits and the remaining length (3.1.1 §2.2, 5.0 §2.1).
type FixedHeader struct {
	Type  Type
	Flags byte
	// RemainingLength is the number of bytes after the fixed header.
	RemainingLength int
	// HeaderLen is the size of the fixed header itself: 2 to 5 bytes.
	HeaderLen int
}

// PacketLen returns the size of the whole packet, header included.
func (h FixedHeader) PacketLen() int { return h.HeaderLen + h.RemainingLength }

// DecodeFixedHeader decodes the fixed header at the start of b, which may
// hold anything after it. It returns [ErrNeedMore] while b is a prefix of a
// header, and an [*Error] wrapping [ErrMalformed] when the first byte has
// flags its type forbids [MQTT-2.2.2-2], the type is the forbidden 0, a
// PUBLISH has QoS 3 [MQTT-3.3.1-4], or the remaining length would need a
// fifth byte. The first byte is checked before the length is complete, so
// noise is refused at once.
//
// A remaining length in more bytes than needed is accepted: MQTT 3.1.1 does
// not forbid it; [DecodeConnect] refuses it for MQTT 5 [MQTT-1.5.5-1].
// Flags are checked as in 3.1.1 and 5.0; the DUP bit that some 3.1 clients
// set on a retried SUBSCRIBE is refused.
func DecodeFixedHeader(b []byte) (FixedHeader, error) {
	if len(b) == 0 {
		return FixedHeader{}, ErrNeedMore
	}
	if err := checkFirstByte(b[0]); err != nil {
		return FixedHeader{}, err
	}
	length, n := readVarint(b[1:])
	switch {
	case n < 0:
		return FixedHeader{}, newError(ErrMalformed, 0, ConnackMalformed, "§2.2.3",
			"remaining length longer than four bytes")
	case n == 0:
		return FixedHeader{}, ErrNeedMore
	}
	return FixedHeader{Type: Type(b[0] >> 4), Flags: b[0] & 0x0F, RemainingLength: length, HeaderLen: 1 + n}, nil
}

// checkFirstByte validates a packet's type and flags (3.1.1 §2.2.2 Table 2.2,
// 5.0 §2.1.3 Table 2-2).
func checkFirstByte(first byte) *Error {
	t, flags := Type(first>>4), first&0x0F
	switch t {
	case 0:
		return newError(ErrMalformed, 0, ConnackMalformed, "§2.2.1", "packet type 0 is forbidden")
	case PUBLISH:
		if flags&0x06 == 0x06 {
			return newError(ErrMalformed, 0, ConnackMalformed, "MQTT-3.3.1-4", "PUBLISH with QoS 3")
		}
		return nil
	case PUBREL, SUBSCRIBE, UNSUBSCRIBE:
		if flags != 0x02 {
			return newError(ErrMalformed, 0, ConnackMalformed, "MQTT-2.2.2-2", t.String()+" flags are not 0010")
		}
		return nil
	}
	if flags != 0 {
		return newError(ErrMalformed, 0, ConnackMalformed, "MQTT-2.2.2-2", t.String()+" flags are not 0000")
	}
	return nil
}

// readVarint decodes a variable byte integer (5.0 §1.5.5; the remaining
// length of 3.1.1 §2.2.3) at the start of b. n is the number of bytes it
// takes; n == 0 means b ends inside it; n < 0 means the fourth byte still
// has its continuation bit set, so the integer would be longer than the
// four bytes allowed.
func readVarint(b []byte) (v, n int) {
	for i := 0; i < 4; i++ {
		if i == len(b) {
			return 0, 0
		}
		v |= int(b[i]&0x7F) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, -1
}

// varintLen returns the minimal size of v as a variable byte integer.
func varintLen(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	}
	return 4
}

// appendVarint appends v, which must be at most MaxRemainingLength, as a
// variable byte integer of minimal size.
func appendVarint(dst []byte, v int) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}
