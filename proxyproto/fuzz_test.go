package proxyproto

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fuzzAddr makes a valid address of the family the input's length picks:
// IPv6 from 16 or more bytes, IPv4 otherwise (zero-padded).
func fuzzAddr(b []byte, port uint16) netip.AddrPort {
	if len(b) >= 16 {
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[:16])), port)
	}
	var a [4]byte
	copy(a[:], b)
	return netip.AddrPortFrom(netip.AddrFrom4(a), port)
}

// FuzzAppendBinary builds headers from fuzzed addresses and TLV contents.
// Each header must either fail with an error whose cause the inputs show
// (a size limit or an encoding the specification requires), or be read back
// by github.com/pires/go-proxyproto with every field and TLV intact, in v2
// and in v1.
func FuzzAppendBinary(f *testing.F) {
	f.Add(true, byte(0), []byte{192, 0, 2, 1}, uint16(56324), []byte{198, 51, 100, 7}, uint16(1883), "", "",
		"mqtt", "broker.example.com", []byte("conn-0001"), true, byte(7), uint32(0),
		"TLSv1.3", "device-42", "TLS_AES_128_GCM_SHA256", "ecdsa-with-SHA256", "EC256",
		"blue", byte(0), []byte{1, 2, 3}, uint16(0), true)
	f.Add(true, byte(1), []byte{192, 0, 2, 1}, uint16(1), []byte("0123456789abcdef"), uint16(2), "", "",
		"", "", []byte(nil), false, byte(0), uint32(0), "", "", "", "", "", "", byte(15), []byte(nil), uint16(3), false)
	f.Add(true, byte(2), []byte(nil), uint16(0), []byte(nil), uint16(0), strings.Repeat("s", 108), "/run/mqtt.sock",
		"", "", make([]byte, 129), true, byte(1), uint32(1), "TLSv1.2", "cn", "", "", "", "", byte(0), []byte(nil), uint16(0), false)
	f.Add(false, byte(0), []byte(nil), uint16(0), []byte(nil), uint16(0), "", "",
		"", "\xc3", []byte(nil), false, byte(0), uint32(0), "", "", "", "", "", "bl\u00fc", byte(0), []byte(nil), uint16(65535), true)
	f.Fuzz(func(t *testing.T, proxy bool, network byte, src []byte, sport uint16, dst []byte, dport uint16,
		srcPath, dstPath, alpn, authority string, uniqueID []byte,
		withSSL bool, client byte, verify uint32, version, cn, cipher, sigAlg, keyAlg string,
		netns string, customType byte, custom []byte, noop uint16, crc bool) {
		var h Header
		if proxy {
			h.Command, h.Network = Proxy, Network(network%4)
			if h.Network == TCP || h.Network == UDP {
				h.Source, h.Destination = fuzzAddr(src, sport), fuzzAddr(dst, dport)
			} else {
				h.SourcePath, h.DestinationPath = srcPath, dstPath
			}
		}
		info := SSLInfo{Client: ClientFlags(client & 7), Verify: verify, Version: version,
			CN: cn, Cipher: cipher, SigAlg: sigAlg, KeyAlg: keyAlg}
		if crc {
			h.TLVs = append(h.TLVs, CRC32C())
		}
		h.TLVs = append(h.TLVs, ALPN(alpn), Authority(authority), UniqueID(uniqueID))
		if withSSL {
			h.TLVs = append(h.TLVs, SSL(info))
		}
		h.TLVs = append(h.TLVs, NetNS(netns), Custom(TypeMinCustom+customType%16, custom), NOOP(int(noop)))

		causes := expectedFailures(&h, withSSL, info)
		wire, err := h.AppendBinary(nil)
		if len(causes) > 0 {
			require.Error(t, err, "inputs break %v", causes)
			assert.True(t, isOneOf(err, causes), "%v is not among the causes %v", err, causes)
			return
		}
		require.NoError(t, err)
		n, err := h.BinaryLen()
		require.NoError(t, err)
		require.Len(t, wire, n)
		var ssl *SSLInfo
		if withSSL {
			ssl = &info
		}
		assertV2ParsesBack(t, &h, wire, ssl)

		line, err := h.AppendV1(nil)
		require.NoError(t, err)
		assertV1ParsesBack(t, &h, line)
	})
}

// expectedFailures lists, from the inputs alone, every rule of the
// specification the header breaks.
func expectedFailures(h *Header, withSSL bool, info SSLInfo) []error {
	var causes []error
	if h.Command == Proxy && (h.Network == Unix || h.Network == Unixgram) {
		for _, p := range []string{h.SourcePath, h.DestinationPath} {
			if len(p) > MaxUnixPathLen || strings.Contains(p, "\x00") {
				causes = append(causes, ErrUnixPath)
			}
		}
	}
	total := map[Network]int{TCP: 12, UDP: 12, Unix: 216, Unixgram: 216}[h.Network]
	if h.Command == Local {
		total = 0
	} else if h.Network <= UDP && !(h.Source.Addr().Is4() && h.Destination.Addr().Is4()) {
		total = 36
	}
	for _, tlv := range h.TLVs {
		total += 3 + len(tlv.Value)
		if len(tlv.Value) > 0xFFFF {
			causes = append(causes, ErrTLVTooLong)
		}
		switch tlv.Type {
		case TypeUniqueID:
			if len(tlv.Value) > MaxUniqueIDLen {
				causes = append(causes, ErrUniqueIDTooLong)
			}
		case TypeAuthority:
			if !utf8.Valid(tlv.Value) {
				causes = append(causes, ErrEncoding)
			}
		case TypeNetNS:
			if strings.IndexFunc(string(tlv.Value), func(r rune) bool { return r >= 0x80 }) >= 0 {
				causes = append(causes, ErrEncoding)
			}
		}
	}
	if total > 0xFFFF {
		causes = append(causes, ErrHeaderTooLong)
	}
	if withSSL && sslBroken(info) {
		causes = append(causes, ErrSSL)
	}
	return causes
}

// sslBroken: §2.2.6 wants US-ASCII strings, a UTF-8 CN, and a VERSION when
// PP2_CLIENT_SSL is set.
func sslBroken(info SSLInfo) bool {
	notASCII := func(s string) bool {
		return strings.IndexFunc(s, func(r rune) bool { return r >= 0x80 }) >= 0
	}
	return (info.Client&ClientSSL != 0 && info.Version == "") ||
		!utf8.ValidString(info.CN) ||
		notASCII(info.Version) || notASCII(info.Cipher) || notASCII(info.SigAlg) || notASCII(info.KeyAlg)
}

func isOneOf(err error, targets []error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
