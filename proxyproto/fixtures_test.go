package proxyproto

import (
	"encoding/hex"
	"net/netip"
	"strings"
)

// part is one field of a golden header: its bytes in hex and what they mean.
type part struct {
	hex  string
	what string
}

// fixture is one header of the shared table: the Header, its v2 wire bytes
// field by field, and its v1 line. Every test of this package that needs a
// known header takes it from fixtures.
type fixture struct {
	name   string
	header Header
	wire   []part
	v1     string
	// ssl is what the SSL TLV of the header carries, if it has one.
	ssl *SSLInfo
}

func (f fixture) bytes() []byte {
	var s strings.Builder
	for _, p := range f.wire {
		s.WriteString(p.hex)
	}
	b, err := hex.DecodeString(s.String())
	if err != nil {
		panic(f.name + ": bad golden hex: " + err.Error())
	}
	return b
}

// text is a part holding s in US-ASCII.
func text(s string) part { return part{hex.EncodeToString([]byte(s)), "\"" + s + "\""} }

// unixField is a 108-byte AF_UNIX address field: path then NUL padding.
func unixField(path, what string) part {
	field := make([]byte, MaxUnixPathLen)
	copy(field, path)
	return part{hex.EncodeToString(field), what + " " + path + " + NUL padding to 108 bytes"}
}

var (
	fxSrc4 = netip.MustParseAddrPort("192.0.2.1:56324")
	fxDst4 = netip.MustParseAddrPort("198.51.100.7:1883")
	fxSrc6 = netip.MustParseAddrPort("[2001:db8::1]:50000")
	fxDst6 = netip.MustParseAddrPort("[2001:db8::2]:8883")

	fxSSLFull = SSLInfo{
		Client:  ClientSSL | ClientCertConn | ClientCertSess,
		Verify:  0,
		Version: "TLSv1.3",
		CN:      "device-42",
		Cipher:  "TLS_AES_128_GCM_SHA256",
		SigAlg:  "ecdsa-with-SHA256",
		KeyAlg:  "EC256",
	}
	fxSSLNoCert = SSLInfo{
		Client:  ClientSSL,
		Verify:  VerifyFailed,
		Version: "TLSv1.2",
		Cipher:  "ECDHE-RSA-AES128-GCM-SHA256",
	}
)

const fxV1IPv4 = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 1883\r\n"

var sigPart = part{"0d0a0d0a000d0a515549540a", "signature \\r\\n\\r\\n\\0\\r\\nQUIT\\n (§2.2)"}

// ipv4Head is the fixed header and address block of a TCP/IPv4 PROXY
// header from fxSrc4 to fxDst4 whose length field is length.
func ipv4Head(length string) []part {
	return []part{
		sigPart,
		{"21", "version 2, command PROXY"},
		{"11", "AF_INET, STREAM"},
		{length, "length after the fixed 16 bytes"},
		{"c0000201", "source 192.0.2.1"},
		{"c6336407", "destination 198.51.100.7"},
		{"dc04", "source port 56324"},
		{"075b", "destination port 1883"},
	}
}

// sslFullParts is SSL(fxSSLFull): the SSL TLV with every sub-TLV, in
// HAProxy's order.
var sslFullParts = []part{
	{"20", "type SSL"},
	{"0050", "length 80"},
	{"07", "client: PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS"},
	{"00000000", "verify 0: certificate verified"},
	{"21", "sub-type VERSION"}, {"0007", "length 7"}, text("TLSv1.3"),
	{"22", "sub-type CN"}, {"0009", "length 9"}, text("device-42"),
	{"25", "sub-type KEY_ALG"}, {"0005", "length 5"}, text("EC256"),
	{"24", "sub-type SIG_ALG"}, {"0011", "length 17"}, text("ecdsa-with-SHA256"),
	{"23", "sub-type CIPHER"}, {"0016", "length 22"}, text("TLS_AES_128_GCM_SHA256"),
}

func concat(parts ...[]part) []part {
	var all []part
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

var fixtures = []fixture{
	{
		name:   "IPv4 TCP",
		header: ProxyHeader(fxSrc4, fxDst4),
		wire:   ipv4Head("000c"),
		v1:     fxV1IPv4,
	},
	{
		name:   "IPv6 TCP",
		header: ProxyHeader(fxSrc6, fxDst6),
		wire: []part{
			sigPart,
			{"21", "version 2, command PROXY"},
			{"21", "AF_INET6, STREAM"},
			{"0024", "length 36"},
			{"20010db8000000000000000000000001", "source 2001:db8::1"},
			{"20010db8000000000000000000000002", "destination 2001:db8::2"},
			{"c350", "source port 50000"},
			{"22b3", "destination port 8883"},
		},
		v1: "PROXY TCP6 2001:db8::1 2001:db8::2 50000 8883\r\n",
	},
	{
		name:   "mixed families mapped to IPv6",
		header: ProxyHeader(netip.MustParseAddrPort("192.0.2.1:1234"), fxDst6),
		wire: []part{
			sigPart,
			{"21", "version 2, command PROXY"},
			{"21", "AF_INET6, STREAM"},
			{"0024", "length 36"},
			{"00000000000000000000ffffc0000201", "source ::ffff:192.0.2.1 (IPv4-mapped)"},
			{"20010db8000000000000000000000002", "destination 2001:db8::2"},
			{"04d2", "source port 1234"},
			{"22b3", "destination port 8883"},
		},
		v1: "PROXY TCP6 ::ffff:c000:201 2001:db8::2 1234 8883\r\n",
	},
	{
		name:   "IPv4 UDP",
		header: Header{Command: Proxy, Network: UDP, Source: fxSrc4, Destination: fxDst4},
		wire: []part{
			sigPart,
			{"21", "version 2, command PROXY"},
			{"12", "AF_INET, DGRAM"},
			{"000c", "length 12"},
			{"c0000201", "source 192.0.2.1"},
			{"c6336407", "destination 198.51.100.7"},
			{"dc04", "source port 56324"},
			{"075b", "destination port 1883"},
		},
		v1: "PROXY UNKNOWN\r\n",
	},
	{
		name: "UNIX stream",
		header: Header{Command: Proxy, Network: Unix,
			SourcePath: "/run/client.sock", DestinationPath: "/run/mqtt.sock"},
		wire: []part{
			sigPart,
			{"21", "version 2, command PROXY"},
			{"31", "AF_UNIX, STREAM"},
			{"00d8", "length 216"},
			unixField("/run/client.sock", "source"),
			unixField("/run/mqtt.sock", "destination"),
		},
		v1: "PROXY UNKNOWN\r\n",
	},
	{
		name: "UNIX datagram from an unnamed socket",
		header: Header{Command: Proxy, Network: Unixgram,
			DestinationPath: "/run/mqtt.sock"},
		wire: []part{
			sigPart,
			{"21", "version 2, command PROXY"},
			{"32", "AF_UNIX, DGRAM"},
			{"00d8", "length 216"},
			unixField("", "source"),
			unixField("/run/mqtt.sock", "destination"),
		},
		v1: "PROXY UNKNOWN\r\n",
	},
	{
		name:   "LOCAL",
		header: LocalHeader(),
		wire: []part{
			sigPart,
			{"20", "version 2, command LOCAL"},
			{"00", "AF_UNSPEC, UNSPEC"},
			{"0000", "length 0: no address"},
		},
		v1: "PROXY UNKNOWN\r\n",
	},
	{
		name:   "LOCAL with CRC32C",
		header: Header{TLVs: []TLV{CRC32C()}},
		wire: []part{
			sigPart,
			{"20", "version 2, command LOCAL"},
			{"00", "AF_UNSPEC, UNSPEC"},
			{"0007", "length 7"},
			{"03", "type CRC32C"}, {"0004", "length 4"},
			{"a9b87e8f", "CRC32c of these 23 bytes with this field zeroed"},
		},
		v1: "PROXY UNKNOWN\r\n",
	},
	{
		name:   "ALPN",
		header: ProxyHeader(fxSrc4, fxDst4, ALPN("mqtt")),
		wire: concat(ipv4Head("0013"), []part{
			{"01", "type ALPN"}, {"0004", "length 4"}, text("mqtt"),
		}),
		v1: fxV1IPv4,
	},
	{
		name:   "AUTHORITY",
		header: ProxyHeader(fxSrc4, fxDst4, Authority("broker.example.com")),
		wire: concat(ipv4Head("0021"), []part{
			{"02", "type AUTHORITY"}, {"0012", "length 18"}, text("broker.example.com"),
		}),
		v1: fxV1IPv4,
	},
	{
		name:   "CRC32C",
		header: ProxyHeader(fxSrc4, fxDst4, CRC32C()),
		wire: concat(ipv4Head("0013"), []part{
			{"03", "type CRC32C"}, {"0004", "length 4"},
			{"c4053124", "CRC32c of the 35-byte header with this field zeroed"},
		}),
		v1: fxV1IPv4,
	},
	{
		name:   "NOOP",
		header: ProxyHeader(fxSrc4, fxDst4, NOOP(2)),
		wire: concat(ipv4Head("0011"), []part{
			{"04", "type NOOP"}, {"0002", "length 2"}, {"0000", "padding"},
		}),
		v1: fxV1IPv4,
	},
	{
		name:   "UNIQUE_ID",
		header: ProxyHeader(fxSrc4, fxDst4, UniqueID([]byte("conn-0001"))),
		wire: concat(ipv4Head("0018"), []part{
			{"05", "type UNIQUE_ID"}, {"0009", "length 9"}, text("conn-0001"),
		}),
		v1: fxV1IPv4,
	},
	{
		name:   "SSL with every sub-TLV",
		header: ProxyHeader(fxSrc4, fxDst4, SSL(fxSSLFull)),
		wire:   concat(ipv4Head("005f"), sslFullParts),
		v1:     fxV1IPv4,
		ssl:    &fxSSLFull,
	},
	{
		name:   "SSL without a client certificate",
		header: ProxyHeader(fxSrc4, fxDst4, SSL(fxSSLNoCert)),
		wire: concat(ipv4Head("003c"), []part{
			{"20", "type SSL"},
			{"002d", "length 45"},
			{"01", "client: PP2_CLIENT_SSL"},
			{"00000001", "verify 1: no verified certificate"},
			{"21", "sub-type VERSION"}, {"0007", "length 7"}, text("TLSv1.2"),
			{"23", "sub-type CIPHER"}, {"001b", "length 27"}, text("ECDHE-RSA-AES128-GCM-SHA256"),
		}),
		v1:  fxV1IPv4,
		ssl: &fxSSLNoCert,
	},
	{
		name:   "NETNS",
		header: ProxyHeader(fxSrc4, fxDst4, NetNS("blue")),
		wire: concat(ipv4Head("0013"), []part{
			{"30", "type NETNS"}, {"0004", "length 4"}, text("blue"),
		}),
		v1: fxV1IPv4,
	},
	{
		name:   "custom type",
		header: ProxyHeader(fxSrc4, fxDst4, Custom(0xE0, []byte{1, 2, 3})),
		wire: concat(ipv4Head("0012"), []part{
			{"e0", "type 0xE0 (application-specific, §2.2.8)"}, {"0003", "length 3"}, {"010203", "value"},
		}),
		v1: fxV1IPv4,
	},
	{
		name: "every TLV in HAProxy's order with CRC32C",
		header: ProxyHeader(fxSrc4, fxDst4,
			CRC32C(), ALPN("mqtt"), Authority("broker.example.com"),
			UniqueID([]byte("conn-0001")), SSL(fxSSLFull), NetNS("blue"),
			Custom(0xE0, []byte{1, 2, 3})),
		wire: concat(ipv4Head("009b"), []part{
			{"03", "type CRC32C"}, {"0004", "length 4"},
			{"960c867b", "CRC32c of the 171-byte header with this field zeroed"},
			{"01", "type ALPN"}, {"0004", "length 4"}, text("mqtt"),
			{"02", "type AUTHORITY"}, {"0012", "length 18"}, text("broker.example.com"),
			{"05", "type UNIQUE_ID"}, {"0009", "length 9"}, text("conn-0001"),
		}, sslFullParts, []part{
			{"30", "type NETNS"}, {"0004", "length 4"}, text("blue"),
			{"e0", "type 0xE0"}, {"0003", "length 3"}, {"010203", "value"},
		}),
		v1:  fxV1IPv4,
		ssl: &fxSSLFull,
	},
}
