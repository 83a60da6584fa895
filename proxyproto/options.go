package proxyproto

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

var (
	// ErrVersion: Options.Version is not 0, 1 or 2.
	ErrVersion = errors.New("proxyproto: version must be 0 (none), 1 or 2")
	// ErrUnknownOption: a proxy-v2-options keyword HAProxy does not define.
	ErrUnknownOption = errors.New("proxyproto: unknown proxy-v2-options keyword")
)

// Options says which PROXY header a backend gets, in the terms of HAProxy's
// server keywords. The zero Options sends no header. Options is a plain
// value, safe for concurrent use once built.
//
// ALPN is always sent over v2 when the client negotiated a protocol, as
// HAProxy does. Unlike HAProxy, the SSL TLV is left out entirely when the
// client did not use TLS: HAProxy sends one with an empty client field, and
// Mosquitto's proxy_protocol_v2_require_tls takes any SSL TLV as proof of
// TLS.
type Options struct {
	// Version is 0 for no header, 1 for the v1 text line ("send-proxy"),
	// 2 for the v2 binary header ("send-proxy-v2").
	Version int
	// SSL sends the SSL TLV with the client flags, the verify result and
	// the TLS version ("send-proxy-v2-ssl", proxy-v2-options "ssl").
	SSL bool
	// CertCN adds the client certificate's CN inside the SSL TLV
	// ("send-proxy-v2-ssl-cn", proxy-v2-options "cert-cn"). Implies SSL.
	CertCN bool
	// SSLCipher adds the cipher name inside the SSL TLV (proxy-v2-options
	// "ssl-cipher"). Implies SSL.
	SSLCipher bool
	// CertSig adds the signature algorithm of the proxy's own certificate
	// inside the SSL TLV (proxy-v2-options "cert-sig"). Implies SSL.
	CertSig bool
	// CertKey adds the key algorithm of the proxy's own certificate inside
	// the SSL TLV (proxy-v2-options "cert-key"). Implies SSL.
	CertKey bool
	// Authority sends the AUTHORITY TLV: ConnInfo.Authority, else the TLS
	// SNI (proxy-v2-options "authority").
	Authority bool
	// CRC32C sends a CRC32C checksum of the header (proxy-v2-options
	// "crc32c").
	CRC32C bool
	// UniqueID sends ConnInfo.UniqueID in a UNIQUE_ID TLV (proxy-v2-options
	// "unique-id").
	UniqueID bool
}

// Ready option sets for the brokers this project fronts; see the package
// documentation for what each broker reads.
var (
	// EMQX reads the client certificate CN only from the SSL TLV (for
	// peer_cert_as_username / peer_cert_as_clientid) and the AUTHORITY TLV
	// as the client's SNI.
	EMQX = Options{Version: 2, SSL: true, CertCN: true, Authority: true}
	// HiveMQ reads v1 and v2 with standard and custom TLVs.
	HiveMQ = Options{Version: 2, SSL: true, CertCN: true, SSLCipher: true}
	// Mosquitto (2.1 and later, enable_proxy_protocol 2) reads the TLS
	// version and cipher (it logs them) and the CN (use_identity_as_username)
	// from the SSL TLV.
	Mosquitto = Options{Version: 2, SSL: true, CertCN: true, SSLCipher: true}
)

// ConnInfo is what the proxy knows about one client connection.
type ConnInfo struct {
	// Source is the client's address, Destination the address it reached.
	// When either is invalid the header is LOCAL, as HAProxy sends when it
	// has no client addresses.
	Source, Destination netip.AddrPort
	// TLS is the state of the client's TLS connection, terminated by this
	// proxy; nil for plain TCP.
	TLS *tls.ConnectionState
	// LocalCertificate is the certificate this proxy presented to the
	// client, which cert-sig and cert-key describe (§2.2.6); nil leaves
	// them out.
	LocalCertificate *x509.Certificate
	// Authority is the host name the client asked for when it is known
	// other than from TLS (an incoming PROXY header, a WebSocket Host);
	// empty means the TLS SNI.
	Authority string
	// UniqueID identifies the connection across proxies, at most 128 bytes.
	UniqueID []byte
	// Extra TLVs are appended after the ones Options selects.
	Extra []TLV
}

// wantsSSL reports whether any option asks for the SSL TLV.
func (o Options) wantsSSL() bool {
	return o.SSL || o.CertCN || o.SSLCipher || o.CertSig || o.CertKey
}

// Header builds the v2 header for c, with TLVs in HAProxy's order: CRC32C,
// ALPN, AUTHORITY, UNIQUE_ID, SSL, then c.Extra.
func (o Options) Header(c ConnInfo) Header {
	return o.header(c, make([]TLV, 0, maxOptionTLVs+len(c.Extra)))
}

// maxOptionTLVs is how many TLVs Options can select.
const maxOptionTLVs = 5

// header builds the header into the TLV slice tlvs.
func (o Options) header(c ConnInfo, tlvs []TLV) Header {
	var h Header
	if c.Source.IsValid() && c.Destination.IsValid() {
		h = Header{Command: Proxy, Source: c.Source, Destination: c.Destination}
	}
	h.TLVs = tlvs
	if o.CRC32C {
		h.TLVs = append(h.TLVs, CRC32C())
	}
	if c.TLS != nil && c.TLS.NegotiatedProtocol != "" {
		h.TLVs = append(h.TLVs, ALPN(c.TLS.NegotiatedProtocol))
	}
	if o.Authority {
		host := c.Authority
		if host == "" && c.TLS != nil {
			host = c.TLS.ServerName
		}
		if host != "" {
			h.TLVs = append(h.TLVs, Authority(host))
		}
	}
	if o.UniqueID && len(c.UniqueID) > 0 {
		h.TLVs = append(h.TLVs, UniqueID(c.UniqueID))
	}
	if o.wantsSSL() && c.TLS != nil {
		h.TLVs = append(h.TLVs, SSL(o.sslInfo(c)))
	}
	h.TLVs = append(h.TLVs, c.Extra...)
	return h
}

// sslInfo keeps the parts of the connection's TLS description the options
// ask for.
func (o Options) sslInfo(c ConnInfo) SSLInfo {
	info := SSLInfoFromTLS(c.TLS)
	if !o.CertCN {
		info.CN = ""
	}
	if !o.SSLCipher {
		info.Cipher = ""
	}
	sigAlg, keyAlg := CertAlgorithms(c.LocalCertificate)
	if o.CertSig {
		info.SigAlg = sigAlg
	}
	if o.CertKey {
		info.KeyAlg = keyAlg
	}
	return info
}

// AppendHeader appends the header o calls for to dst: nothing for version
// 0, the v1 line for version 1 (without TLVs), the v2 header for version 2.
// For a plain TCP client it allocates nothing when dst has room; a TLS
// client costs a few small allocations for the values of the TLVs taken from
// its TLS state. On error dst is returned unchanged.
func (o Options) AppendHeader(dst []byte, c ConnInfo) ([]byte, error) {
	switch o.Version {
	case 0:
		return dst, nil
	case 1:
		var h Header
		if c.Source.IsValid() && c.Destination.IsValid() {
			h = ProxyHeader(c.Source, c.Destination)
		}
		return h.AppendV1(dst)
	case 2:
		// The TLV slice stays on the stack unless Extra outgrows it.
		var tlvs [maxOptionTLVs + 3]TLV
		h := o.header(c, tlvs[:0])
		return h.AppendBinary(dst)
	}
	return dst, fmt.Errorf("%w: %d", ErrVersion, o.Version)
}

// SetKeyword applies one of HAProxy's server keywords: "send-proxy",
// "send-proxy-v2", "send-proxy-v2-ssl" or "send-proxy-v2-ssl-cn". It
// reports false, changing nothing, for any other word.
func (o *Options) SetKeyword(keyword string) bool {
	switch keyword {
	case "send-proxy":
		o.Version = 1
	case "send-proxy-v2":
		o.Version = 2
	case "send-proxy-v2-ssl":
		o.Version, o.SSL = 2, true
	case "send-proxy-v2-ssl-cn":
		o.Version, o.SSL, o.CertCN = 2, true, true
	default:
		return false
	}
	return true
}

// SetV2Options applies the comma-separated argument of HAProxy's
// "proxy-v2-options" server keyword: ssl, cert-cn, ssl-cipher, cert-sig,
// cert-key, authority, crc32c, unique-id. Like HAProxy, it does not enable
// sending by itself (that takes "send-proxy-v2"). An unknown keyword
// returns ErrUnknownOption and leaves o unchanged.
func (o *Options) SetV2Options(list string) error {
	next := *o
	for name := range strings.SplitSeq(list, ",") {
		switch name {
		case "ssl":
			next.SSL = true
		case "cert-cn":
			next.SSL, next.CertCN = true, true
		case "ssl-cipher":
			next.SSL, next.SSLCipher = true, true
		case "cert-sig":
			next.SSL, next.CertSig = true, true
		case "cert-key":
			next.SSL, next.CertKey = true, true
		case "authority":
			next.Authority = true
		case "crc32c":
			next.CRC32C = true
		case "unique-id":
			next.UniqueID = true
		default:
			return fmt.Errorf("%w: %q", ErrUnknownOption, name)
		}
	}
	*o = next
	return nil
}
