package packet

import (
	"fmt"
	"strings"
)

// Helpers that write annotated wire bytes for the fixtures: each part is a
// byte (an int or a character literal), raw bytes (a string or []byte), or a nested part list.

// cat joins parts into bytes.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			if v < 0 || v > 0xFF {
				panic(fmt.Sprintf("cat: %d is not a byte", v))
			}
			b = append(b, byte(v))
		case rune: // a character literal such as 'M'
			b = append(b, byte(v))
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("cat: unexpected part %T", p))
		}
	}
	return b
}

// pkt is a packet: its first byte, a remaining length of minimal size
// computed from the body, and the body.
func pkt(first int, body ...any) []byte {
	b := cat(body...)
	return cat(first, appendVarint(nil, len(b)), b)
}

// props is an MQTT 5 property block: its length, then the properties.
func props(parts ...any) []byte {
	b := cat(parts...)
	return cat(appendVarint(nil, len(b)), b)
}

// str is a UTF-8 string or binary data with its two-byte length.
func str(s string) []byte {
	return cat(len(s)>>8, len(s)&0xFF, s)
}

// Typed helpers for the expected values of ConnectSpec and ConnackProps.
func u32(v uint32) *uint32 { return &v }
func u16(v uint16) *uint16 { return &v }
func u8(v byte) *byte      { return &v }

// long is a string of n bytes, for fixtures whose remaining length needs
// more than one byte.
func long(n int) string { return strings.Repeat("x", n) }
