package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"testing"

	goproxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// trailer stands for the client's first bytes after the header: the parser
// must stop exactly at the end of the header and leave them.
const trailer = "\x10\x0c\x00\x04MQTT"

// TestCrossCheckV2 parses every fixture with github.com/pires/go-proxyproto
// and compares each field and TLV with what was asked for.
func TestCrossCheckV2(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			wire, err := f.header.AppendBinary(nil)
			require.NoError(t, err)
			assertV2ParsesBack(t, &f.header, wire, f.ssl)
		})
	}
}

// TestCrossCheckV1 parses every fixture's v1 line with go-proxyproto.
func TestCrossCheckV1(t *testing.T) {
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			line, err := f.header.AppendV1(nil)
			require.NoError(t, err)
			assertV1ParsesBack(t, &f.header, line)
		})
	}
}

// wantTransport is byte 14 (§2.2) derived from the Header's fields alone,
// independently of the encoder.
func wantTransport(h *Header) byte {
	if h.Command == Local {
		return 0x00
	}
	switch h.Network {
	case Unix:
		return 0x31
	case Unixgram:
		return 0x32
	}
	fam := byte(0x20)
	if h.Source.Addr().Is4() && h.Destination.Addr().Is4() {
		fam = 0x10
	}
	if h.Network == UDP {
		return fam | 0x02
	}
	return fam | 0x01
}

// wantIP is the address as the receiver must see it: 4 bytes in an IPv4
// header, 16 (IPv4-mapped where needed) in an IPv6 one.
func wantIP(a net.IP, v4 bool) net.IP {
	if v4 {
		return a.To4()
	}
	return a.To16()
}

func readHeader(t testing.TB, wire []byte) *goproxyproto.Header {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(append(bytes.Clone(wire), trailer...)))
	got, err := goproxyproto.Read(r)
	require.NoError(t, err, "go-proxyproto rejects % x", wire)
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, trailer, string(rest), "the header ends where the receiver stops")
	return got
}

func assertV2ParsesBack(t testing.TB, h *Header, wire []byte, ssl *SSLInfo) {
	t.Helper()
	got := readHeader(t, wire)
	assert.Equal(t, byte(2), got.Version)
	wantCmd := goproxyproto.PROXY
	if h.Command == Local {
		wantCmd = goproxyproto.LOCAL
	}
	assert.Equal(t, wantCmd, got.Command)
	assert.Equal(t, goproxyproto.AddressFamilyAndProtocol(wantTransport(h)), got.TransportProtocol)
	assertAddresses(t, h, got)
	assertTLVs(t, h, wire, got, ssl)
}

func assertAddresses(t testing.TB, h *Header, got *goproxyproto.Header) {
	t.Helper()
	if h.Command == Local {
		assert.Nil(t, got.SourceAddr)
		assert.Nil(t, got.DestinationAddr)
		return
	}
	switch h.Network {
	case Unix, Unixgram:
		src, dst, ok := got.UnixAddrs()
		require.True(t, ok, "UNIX addresses")
		wantNet := "unix"
		if h.Network == Unixgram {
			wantNet = "unixgram"
		}
		assert.Equal(t, h.SourcePath, src.Name)
		assert.Equal(t, h.DestinationPath, dst.Name)
		assert.Equal(t, wantNet, src.Net)
		assert.Equal(t, wantNet, dst.Net)
		return
	}
	v4 := wantTransport(h)&0xF0 == 0x10
	var srcIP, dstIP net.IP
	var srcPort, dstPort int
	if h.Network == UDP {
		src, dst, ok := got.UDPAddrs()
		require.True(t, ok, "UDP addresses")
		srcIP, dstIP, srcPort, dstPort = src.IP, dst.IP, src.Port, dst.Port
	} else {
		src, dst, ok := got.TCPAddrs()
		require.True(t, ok, "TCP addresses")
		srcIP, dstIP, srcPort, dstPort = src.IP, dst.IP, src.Port, dst.Port
	}
	wantSrc := wantIP(net.IP(h.Source.Addr().AsSlice()), v4)
	wantDst := wantIP(net.IP(h.Destination.Addr().AsSlice()), v4)
	assert.Equal(t, wantSrc, wantIP(srcIP, v4), "source address")
	assert.Equal(t, wantDst, wantIP(dstIP, v4), "destination address")
	assert.Len(t, srcIP, len(wantSrc), "source address family")
	assert.Equal(t, int(h.Source.Port()), srcPort)
	assert.Equal(t, int(h.Destination.Port()), dstPort)
}

func assertTLVs(t testing.TB, h *Header, wire []byte, got *goproxyproto.Header, ssl *SSLInfo) {
	t.Helper()
	tlvs, err := got.TLVs()
	require.NoError(t, err)
	require.Len(t, tlvs, len(h.TLVs))
	for i, want := range h.TLVs {
		g := tlvs[i]
		assert.Equal(t, goproxyproto.PP2Type(want.Type), g.Type, "TLV %d type", i)
		switch want.Type {
		case TypeNOOP:
			// go-proxyproto drops NOOP values; the length is checked by the
			// overall header length below.
		case TypeCRC32C:
			assertCRC32C(t, wire, wantAddrLen(h), g.Value)
		case TypeSSL:
			assert.Equal(t, string(want.Value), string(g.Value), "SSL TLV value")
			parsed, err := tlvparse.SSL(g)
			require.NoError(t, err, "go-proxyproto reads the SSL TLV")
			if ssl != nil {
				assertSSL(t, *ssl, parsed)
			}
		default:
			// As strings, so that a nil value equals a parsed empty one.
			assert.Equal(t, string(want.Value), string(g.Value), "TLV %d (%#02x) value", i, want.Type)
		}
	}
	assert.Equal(t, len(wire)-FixedLen, int(binary.BigEndian.Uint16(wire[14:16])),
		"the length field covers the address block and every TLV")
}

// wantAddrLen is the address block length §2.2 gives for the header.
func wantAddrLen(h *Header) int {
	switch wantTransport(h) >> 4 {
	case 1:
		return 12
	case 2:
		return 36
	case 3:
		return 216
	}
	return 0
}

// assertCRC32C recomputes the checksum the way §2.2.3 tells a receiver to:
// find the field, zero it, checksum the whole header, compare.
func assertCRC32C(t testing.TB, wire []byte, addrLen int, value []byte) {
	t.Helper()
	require.Len(t, value, 4)
	at := -1
	for i := FixedLen + addrLen; i+3 <= len(wire); i += 3 + int(binary.BigEndian.Uint16(wire[i+1:])) {
		if wire[i] == TypeCRC32C {
			at = i + 3
			break
		}
	}
	require.GreaterOrEqual(t, at, 0, "CRC32C TLV found")
	assert.Equal(t, value, wire[at:at+4])
	zeroed := bytes.Clone(wire)
	copy(zeroed[at:at+4], []byte{0, 0, 0, 0})
	want := crc32.Checksum(zeroed, crc32.MakeTable(crc32.Castagnoli))
	assert.Equal(t, want, binary.BigEndian.Uint32(value), "CRC32C validates")
}

func assertSSL(t testing.TB, want SSLInfo, got tlvparse.PP2SSL) {
	t.Helper()
	assert.Equal(t, uint8(want.Client), got.Client, "client bit field")
	assert.Equal(t, want.Verify, got.Verify, "verify")
	assert.Equal(t, want.Client&ClientSSL != 0, got.ClientSSL())
	assert.Equal(t, want.Client&ClientCertConn != 0, got.ClientCertConn())
	assert.Equal(t, want.Client&ClientCertSess != 0, got.ClientCertSess())
	subs := []struct {
		name string
		want string
		get  func() (string, bool)
	}{
		{"VERSION", want.Version, got.SSLVersion},
		{"CN", want.CN, got.ClientCN},
		{"CIPHER", want.Cipher, got.SSLCipher},
		{"SIG_ALG", want.SigAlg, got.SSLSigAlg},
		{"KEY_ALG", want.KeyAlg, got.SSLKeyAlg},
	}
	for _, s := range subs {
		value, ok := s.get()
		assert.Equal(t, s.want != "", ok, "%s present", s.name)
		assert.Equal(t, s.want, value, s.name)
	}
}

func assertV1ParsesBack(t testing.TB, h *Header, line []byte) {
	t.Helper()
	got := readHeader(t, line)
	assert.Equal(t, byte(1), got.Version)
	if h.Command == Local || h.Network != TCP {
		assert.Equal(t, goproxyproto.LOCAL, got.Command, "UNKNOWN")
		assert.Equal(t, goproxyproto.UNSPEC, got.TransportProtocol)
		return
	}
	assert.Equal(t, goproxyproto.PROXY, got.Command)
	assert.Equal(t, goproxyproto.AddressFamilyAndProtocol(wantTransport(h)), got.TransportProtocol)
	assertAddresses(t, h, got)
}
