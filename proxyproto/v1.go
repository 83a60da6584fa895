package proxyproto

import (
	"net/netip"
	"strconv"
)

// MaxV1Len is the longest v1 line, CRLF included (§2.1).
const MaxV1Len = 107

// AppendV1 appends the human-readable v1 header (§2.1) to dst, for peers
// that read only version 1 (HAProxy's send-proxy).
//
// A TCP PROXY header becomes "PROXY TCP4 src dst sport dport\r\n", or TCP6
// when either address is IPv6; an IPv4 address beside an IPv6 one is written
// as an IPv4-mapped IPv6 address in hexadecimal groups ("::ffff:c000:201"),
// the only form §2.1 allows for TCP6. A LOCAL header, and UDP or UNIX ones
// that v1 cannot express, become "PROXY UNKNOWN\r\n" (§2.1). TLVs are not
// sent: version 1 has no room for them. AppendV1 allocates nothing when dst
// has room for [MaxV1Len] more bytes. On error dst is returned unchanged.
func (h *Header) AppendV1(dst []byte) ([]byte, error) {
	fam, _, err := h.family()
	if err != nil {
		return dst, err
	}
	switch fam {
	case famInet | transStream:
		dst = append(dst, "PROXY TCP4 "...)
		dst = h.Source.Addr().AppendTo(dst)
		dst = append(dst, ' ')
		dst = h.Destination.Addr().AppendTo(dst)
	case famInet6 | transStream:
		dst = append(dst, "PROXY TCP6 "...)
		dst = appendV1IPv6(dst, h.Source.Addr())
		dst = append(dst, ' ')
		dst = appendV1IPv6(dst, h.Destination.Addr())
	default:
		return append(dst, "PROXY UNKNOWN\r\n"...), nil
	}
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(h.Source.Port()), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(h.Destination.Port()), 10)
	return append(dst, '\r', '\n'), nil
}

// appendV1IPv6 writes a as §2.1 wants IPv6 addresses: hexadecimal groups
// with at most one "::", no zone, and no dotted IPv4 tail.
func appendV1IPv6(dst []byte, a netip.Addr) []byte {
	a = a.WithZone("")
	if !a.Is4() && !a.Is4In6() {
		return a.AppendTo(dst)
	}
	b := a.As16()
	dst = append(dst, "::ffff:"...)
	dst = strconv.AppendUint(dst, uint64(b[12])<<8|uint64(b[13]), 16)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(b[14])<<8|uint64(b[15]), 16)
}
