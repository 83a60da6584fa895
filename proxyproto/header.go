package proxyproto

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net/netip"
	"strings"
)

// Errors returned by [Header.AppendBinary], [Header.WriteTo] and
// [Header.AppendV1]. They are wrapped with %w where more detail helps; test
// them with errors.Is.
var (
	// ErrHeaderTooLong: the address block and TLVs exceed the 16-bit length
	// field of the fixed header (§2.2, bytes 15 and 16).
	ErrHeaderTooLong = errors.New("proxyproto: header longer than 65535 bytes after the fixed 16")
	// ErrTLVTooLong: one TLV value exceeds its 16-bit length field (§2.2).
	ErrTLVTooLong = errors.New("proxyproto: TLV value longer than 65535 bytes")
	// ErrUniqueIDTooLong: a UNIQUE_ID value is longer than 128 bytes (§2.2.5).
	ErrUniqueIDTooLong = errors.New("proxyproto: UNIQUE_ID longer than 128 bytes")
	// ErrUnixPath: a UNIX path is longer than its 108-byte field or holds a
	// NUL byte, which receivers take as the end of the path (§2.2).
	ErrUnixPath = errors.New("proxyproto: UNIX path longer than 108 bytes or containing NUL")
	// ErrInvalidAddress: a PROXY header over TCP or UDP lacks a valid source
	// or destination address.
	ErrInvalidAddress = errors.New("proxyproto: invalid source or destination address")
	// ErrAddressMismatch: addresses are set that the header cannot carry: IP
	// addresses on a UNIX header, paths on an IP header, or any address on a
	// LOCAL header, which presents none (§2.2). The usual cause is a missing
	// Command: Proxy.
	ErrAddressMismatch = errors.New("proxyproto: addresses do not match the command and network")
	// ErrCommand: the command is neither [Local] nor [Proxy] (§2.2, byte 13).
	ErrCommand = errors.New("proxyproto: unknown command")
	// ErrNetwork: the network is none of [TCP], [UDP], [Unix], [Unixgram].
	ErrNetwork = errors.New("proxyproto: unknown network")
	// ErrTLVType: a TLV type that may not be sent at the top level: an SSL
	// sub-type (0x21-0x2F belongs inside the SSL TLV, §2.2.6), an unassigned
	// type, or the range reserved for future multi-byte types (§2.2.8).
	ErrTLVType = errors.New("proxyproto: TLV type not allowed at the top level")
	// ErrCRC32C: a CRC32C TLV whose value is not 4 bytes, or more than one
	// (§2.2.3).
	ErrCRC32C = errors.New("proxyproto: CRC32C TLV must appear once with a 4-byte value")
	// ErrSSL: a malformed SSL TLV: shorter than its 5-byte client and verify
	// fields, a truncated sub-TLV, an empty or wrongly encoded string
	// sub-TLV, or PP2_CLIENT_SSL set without a VERSION sub-TLV (§2.2.6).
	ErrSSL = errors.New("proxyproto: malformed SSL TLV")
	// ErrEncoding: an AUTHORITY value that is not UTF-8 (§2.2.2) or a NETNS
	// value that is not US-ASCII (§2.2.7).
	ErrEncoding = errors.New("proxyproto: TLV value not in the encoding its type requires")
)

// Command is the v2 command, the low four bits of byte 13 (§2.2).
type Command uint8

const (
	// Local marks a connection the proxy made on its own behalf, such as a
	// health check: the receiver uses the real endpoints. The zero Header is
	// a valid LOCAL header.
	Local Command = 0x0
	// Proxy marks a relayed connection: the receiver uses the addresses in
	// the header as the connection's endpoints.
	Proxy Command = 0x1
)

// Network is the transport of the proxied connection; with the address
// family it forms byte 14 (§2.2).
type Network uint8

const (
	// TCP is SOCK_STREAM over IPv4 or IPv6 (0x11 or 0x21). The zero value.
	TCP Network = iota
	// UDP is SOCK_DGRAM over IPv4 or IPv6 (0x12 or 0x22).
	UDP
	// Unix is SOCK_STREAM over AF_UNIX (0x31).
	Unix
	// Unixgram is SOCK_DGRAM over AF_UNIX (0x32).
	Unixgram
)

// Sizes fixed by the specification.
const (
	// FixedLen is the length of the v2 signature, version and command,
	// family and length fields (§2.2).
	FixedLen = 16
	// MaxUniqueIDLen is the longest UNIQUE_ID value (§2.2.5).
	MaxUniqueIDLen = 128
	// MaxUnixPathLen is the size of each AF_UNIX address field (§2.2).
	MaxUnixPathLen = 108
)

// Address block lengths and family/transport bytes (§2.2).
const (
	addrLenUnspec = 0
	addrLenIPv4   = 2*4 + 2*2
	addrLenIPv6   = 2*16 + 2*2
	addrLenUnix   = 2 * MaxUnixPathLen

	famUnspec = 0x00
	famInet   = 0x10
	famInet6  = 0x20
	famUnix   = 0x30

	transStream = 0x01
	transDgram  = 0x02

	version2 = 0x20
)

// signature is the 12-byte v2 signature (§2.2); its NUL byte keeps it from
// being mistaken for text.
var signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// castagnoli is the CRC32c table of RFC 4960 Appendix B, which §2.2.3
// prescribes.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is one PROXY protocol header.
//
// The zero Header is a LOCAL header with no TLVs, which is what a health
// check sends. A Header is a plain value: it is safe for concurrent reads
// (AppendBinary, WriteTo, AppendV1 do not modify it) but not for concurrent
// modification.
type Header struct {
	// Command is Local (the zero value) or Proxy.
	Command Command
	// Network is the proxied transport; the zero value is TCP. Ignored for
	// LOCAL headers, which are always sent as AF_UNSPEC/UNSPEC (§2.2).
	Network Network
	// Source and Destination are the client's address and the address it
	// connected to, for TCP and UDP. When one is IPv4 and the other IPv6,
	// the IPv4 one is sent as an IPv4-mapped IPv6 address, as HAProxy does.
	// IPv6 zones cannot be carried and are dropped.
	Source, Destination netip.AddrPort
	// SourcePath and DestinationPath are the AF_UNIX paths for Unix and
	// Unixgram, at most 108 bytes each, sent NUL-padded.
	SourcePath, DestinationPath string
	// TLVs follow the address block in order (v2 only; v1 cannot carry
	// them). A CRC32C TLV (see [CRC32C]) is filled in last, over the whole
	// header.
	TLVs []TLV
}

// LocalHeader returns the header for a connection the proxy makes on its own
// behalf, such as a health check (§2.2, command LOCAL). It is the zero
// Header.
func LocalHeader() Header { return Header{} }

// ProxyHeader returns a PROXY header for a TCP connection from src to dst
// carrying tlvs.
func ProxyHeader(src, dst netip.AddrPort, tlvs ...TLV) Header {
	return Header{Command: Proxy, Source: src, Destination: dst, TLVs: tlvs}
}

// BinaryLen returns the length of the v2 header AppendBinary writes, or an
// error if it cannot be written.
func (h *Header) BinaryLen() (int, error) {
	_, _, total, err := h.layout()
	return total, err
}

// layout validates the whole header and returns byte 14, the address block
// length and the total length.
func (h *Header) layout() (fam byte, addrLen, total int, err error) {
	fam, addrLen, err = h.family()
	if err != nil {
		return 0, 0, 0, err
	}
	n := addrLen
	crcSeen := false
	for i := range h.TLVs {
		if err := h.TLVs[i].validate(&crcSeen); err != nil {
			return 0, 0, 0, err
		}
		n += tlvHeaderLen + len(h.TLVs[i].Value)
	}
	if n > 0xFFFF {
		return 0, 0, 0, ErrHeaderTooLong
	}
	return fam, addrLen, FixedLen + n, nil
}

// AppendBinary appends the v2 binary header (§2.2) to dst. It allocates
// nothing when dst has room for [Header.BinaryLen] more bytes. On error dst
// is returned unchanged.
func (h *Header) AppendBinary(dst []byte) ([]byte, error) {
	fam, addrLen, total, err := h.layout()
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, signature[:]...)
	dst = append(dst, version2|byte(h.Command), fam)
	dst = binary.BigEndian.AppendUint16(dst, uint16(total-FixedLen))
	dst = h.appendAddresses(dst, addrLen)
	crcAt := -1
	for i := range h.TLVs {
		t := &h.TLVs[i]
		dst = append(dst, t.Type)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.Value)))
		if t.Type == TypeCRC32C {
			// §2.2.3: the checksum is computed with its own field zeroed.
			crcAt = len(dst)
			dst = append(dst, 0, 0, 0, 0)
			continue
		}
		dst = append(dst, t.Value...)
	}
	if crcAt >= 0 {
		sum := crc32.Checksum(dst[start:], castagnoli)
		binary.BigEndian.PutUint32(dst[crcAt:], sum)
	}
	return dst, nil
}

// WriteTo writes the v2 binary header to w in a single Write, since the
// sender must send the header at once (§2.2). It allocates one buffer; on a
// hot path, use AppendBinary with a reused buffer.
func (h *Header) WriteTo(w io.Writer) (int64, error) {
	n, err := h.BinaryLen()
	if err != nil {
		return 0, err
	}
	buf, err := h.AppendBinary(make([]byte, 0, n))
	if err != nil {
		return 0, err
	}
	written, err := w.Write(buf)
	return int64(written), err
}

// family validates the command, network and addresses, and returns byte 14
// and the address block length.
func (h *Header) family() (fam byte, addrLen int, err error) {
	switch h.Command {
	case Local:
		// §2.2: "When a sender presents a LOCAL connection, it should not
		// present any address so it sets this field to zero."
		if h.Source.IsValid() || h.Destination.IsValid() || h.SourcePath != "" || h.DestinationPath != "" {
			return 0, 0, ErrAddressMismatch
		}
		return famUnspec, addrLenUnspec, nil
	case Proxy:
	default:
		return 0, 0, ErrCommand
	}
	switch h.Network {
	case TCP, UDP:
		if h.SourcePath != "" || h.DestinationPath != "" {
			return 0, 0, ErrAddressMismatch
		}
		if !h.Source.IsValid() || !h.Destination.IsValid() {
			return 0, 0, ErrInvalidAddress
		}
		trans := byte(transStream)
		if h.Network == UDP {
			trans = transDgram
		}
		if h.Source.Addr().Is4() && h.Destination.Addr().Is4() {
			return famInet | trans, addrLenIPv4, nil
		}
		return famInet6 | trans, addrLenIPv6, nil
	case Unix, Unixgram:
		if h.Source.IsValid() || h.Destination.IsValid() {
			return 0, 0, ErrAddressMismatch
		}
		if !validUnixPath(h.SourcePath) || !validUnixPath(h.DestinationPath) {
			return 0, 0, ErrUnixPath
		}
		if h.Network == Unixgram {
			return famUnix | transDgram, addrLenUnix, nil
		}
		return famUnix | transStream, addrLenUnix, nil
	}
	return 0, 0, ErrNetwork
}

func validUnixPath(p string) bool {
	return len(p) <= MaxUnixPathLen && strings.IndexByte(p, 0) < 0
}

// appendAddresses appends the address block in the order §2.2 fixes: source
// address, destination address, source port, destination port.
func (h *Header) appendAddresses(dst []byte, addrLen int) []byte {
	switch addrLen {
	case addrLenIPv4:
		src, dstAddr := h.Source.Addr().As4(), h.Destination.Addr().As4()
		dst = append(dst, src[:]...)
		dst = append(dst, dstAddr[:]...)
	case addrLenIPv6:
		// As16 maps an IPv4 address to ::ffff:a.b.c.d, as HAProxy's
		// v4tov6 does for mixed families.
		src, dstAddr := h.Source.Addr().As16(), h.Destination.Addr().As16()
		dst = append(dst, src[:]...)
		dst = append(dst, dstAddr[:]...)
	case addrLenUnix:
		dst = appendPadded(dst, h.SourcePath)
		return appendPadded(dst, h.DestinationPath)
	default:
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, h.Source.Port())
	return binary.BigEndian.AppendUint16(dst, h.Destination.Port())
}

// unixPadding is the NUL padding of the longest possible AF_UNIX field.
var unixPadding [MaxUnixPathLen]byte

func appendPadded(dst []byte, path string) []byte {
	dst = append(dst, path...)
	return append(dst, unixPadding[:MaxUnixPathLen-len(path)]...)
}
