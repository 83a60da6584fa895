package packet

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// cursor reads the fields of one packet from b, starting at pos. end is
// the offset where the packet ends by its remaining length; it may lie
// beyond len(b) while the packet is still arriving. A field that would end
// past end is malformed, whatever arrives later; a field that ends past
// len(b) but not past end needs more bytes. So a decode reports an error as
// soon as the bytes prove it, and ErrNeedMore only for a valid prefix.
//
// Every value returned is a view into b, capped so that appending to it
// cannot overwrite the input.
type cursor struct {
	b       []byte
	pos     int
	end     int
	version byte // the protocol level once read; selects the rule citations
}

// peek returns as much of the next n bytes as has arrived, without
// consuming them, so that their content can be judged before the rest
// comes. A field that does not fit the remaining length is malformed
// first: checking content only within the bounds keeps the verdict the
// same for every prefix of the input.
func (c *cursor) peek(n int, what string) ([]byte, error) {
	if n > c.end-c.pos {
		return nil, c.malformed(c.rule("§2.2.3", "§2.1.4"), what+" runs past the remaining length")
	}
	arrived := min(n, len(c.b)-c.pos)
	return c.b[c.pos : c.pos+arrived : c.pos+arrived], nil
}

// take returns the next n bytes.
func (c *cursor) take(n int, what string) ([]byte, error) {
	v, err := c.peek(n, what)
	if err != nil {
		return nil, err
	}
	if len(v) < n {
		return nil, ErrNeedMore
	}
	c.pos += n
	return v, nil
}

func (c *cursor) u8(what string) (byte, error) {
	v, err := c.take(1, what)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func (c *cursor) u16(what string) (uint16, error) {
	v, err := c.take(2, what)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(v), nil
}

// binary reads Binary Data: a two byte length and that many bytes (3.1.1
// §1.5.3 for the password and will message, 5.0 §1.5.6).
func (c *cursor) binary(what string) ([]byte, error) {
	n, err := c.u16(what)
	if err != nil {
		return nil, err
	}
	return c.take(int(n), what)
}

// utf8String reads a UTF-8 Encoded String (3.1.1 §1.5.3, 5.0 §1.5.4).
func (c *cursor) utf8String(what string) ([]byte, error) {
	s, err := c.binary(what)
	if err != nil {
		return nil, err
	}
	if err := checkUTF8(s, c.version, what); err != nil {
		return nil, err
	}
	return s, nil
}

// varint reads a Variable Byte Integer (5.0 §1.5.5).
func (c *cursor) varint(what string) (int, error) {
	avail := c.b[c.pos:min(len(c.b), c.end)]
	v, n := readVarint(avail)
	switch {
	case n < 0:
		return 0, c.malformed("§1.5.5", what+" is longer than four bytes")
	case n == 0 && c.pos+len(avail) == c.end:
		return 0, c.malformed(c.rule("§2.2.3", "§2.1.4"), what+" runs past the remaining length")
	case n == 0:
		return 0, ErrNeedMore
	case n != varintLen(v):
		return 0, c.malformed("MQTT-1.5.5-1", what+" is not in the fewest bytes")
	}
	c.pos += n
	return v, nil
}

// rule picks the citation of a rule in the version being decoded.
func (c *cursor) rule(v3, v5 string) string {
	if c.version == V5 {
		return v5
	}
	return v3
}

// malformed reports a Malformed Packet (MQTT 5 reason code 0x81).
func (c *cursor) malformed(rule, msg string) *Error {
	return newError(ErrMalformed, c.version, ConnackMalformed, rule, msg)
}

// protocolError reports a Protocol Error (MQTT 5 reason code 0x82): the
// bytes parse, but a value is forbidden. It is of class ErrMalformed: a 3.x
// server closes the connection for it as for any other violation.
func (c *cursor) protocolError(rule, msg string) *Error {
	return newError(ErrMalformed, c.version, ConnackProtocolError, rule, msg)
}

// checkUTF8 enforces that a string is well-formed UTF-8, without encoded
// surrogates, and holds no U+0000 (3.1.1 [MQTT-1.5.3-1] [MQTT-1.5.3-2],
// 5.0 [MQTT-1.5.4-1] [MQTT-1.5.4-2]).
func checkUTF8(s []byte, version byte, what string) *Error {
	if !utf8.Valid(s) {
		rule := "MQTT-1.5.3-1"
		if version == V5 {
			rule = "MQTT-1.5.4-1"
		}
		return newError(ErrMalformed, version, ConnackMalformed, rule, what+" is not valid UTF-8")
	}
	if bytes.IndexByte(s, 0) >= 0 {
		rule := "MQTT-1.5.3-2"
		if version == V5 {
			rule = "MQTT-1.5.4-2"
		}
		return newError(ErrMalformed, version, ConnackMalformed, rule, what+" contains U+0000")
	}
	return nil
}
