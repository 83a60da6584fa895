package proxyproto

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// TLV types registered by the specification (§2.2) and the ranges it
// reserves (§2.2.8).
const (
	TypeALPN      byte = 0x01 // §2.2.1
	TypeAuthority byte = 0x02 // §2.2.2, the TLS SNI
	TypeCRC32C    byte = 0x03 // §2.2.3
	TypeNOOP      byte = 0x04 // §2.2.4
	TypeUniqueID  byte = 0x05 // §2.2.5
	TypeSSL       byte = 0x20 // §2.2.6
	TypeNetNS     byte = 0x30 // §2.2.7

	// Sub-types nested inside a TypeSSL value (§2.2.6), never at the top
	// level.
	SubtypeSSLVersion byte = 0x21
	SubtypeSSLCN      byte = 0x22
	SubtypeSSLCipher  byte = 0x23
	SubtypeSSLSigAlg  byte = 0x24
	SubtypeSSLKeyAlg  byte = 0x25

	// Application-specific types (§2.2.8), used by cloud load balancers
	// (AWS 0xEA, Azure 0xEE, GCP 0xE0) and by [Custom].
	TypeMinCustom byte = 0xE0
	TypeMaxCustom byte = 0xEF
	// Experimental types (§2.2.8): accepted, but not for production use.
	TypeMinExperiment byte = 0xF0
	TypeMaxExperiment byte = 0xF7
)

// ClientFlags is the client bit field of the SSL TLV (§2.2.6).
type ClientFlags uint8

const (
	// ClientSSL (PP2_CLIENT_SSL): the client connected over TLS; a VERSION
	// sub-TLV must follow.
	ClientSSL ClientFlags = 0x01
	// ClientCertConn (PP2_CLIENT_CERT_CONN): the client presented a
	// certificate over this connection.
	ClientCertConn ClientFlags = 0x02
	// ClientCertSess (PP2_CLIENT_CERT_SESS): the client presented a
	// certificate at least once over the TLS session this connection
	// belongs to (including a resumed one).
	ClientCertSess ClientFlags = 0x04
)

// tlvHeaderLen is the type byte and the two length bytes (§2.2).
const tlvHeaderLen = 3

// sslFixedLen is the client byte and the 32-bit verify field (§2.2.6).
const sslFixedLen = 1 + 4

// TLV is one type-length-value record of a v2 header (§2.2). The length is
// len(Value) and must fit 16 bits.
type TLV struct {
	Type  byte
	Value []byte
}

// ALPN returns the ALPN TLV (§2.2.1) carrying the negotiated application
// protocol, as HAProxy sends it (for MQTT over TLS, usually "mqtt").
func ALPN(protocol string) TLV { return TLV{Type: TypeALPN, Value: []byte(protocol)} }

// Authority returns the AUTHORITY TLV (§2.2.2): the host name the client
// asked for, which over TLS is the SNI. It must be UTF-8.
func Authority(host string) TLV { return TLV{Type: TypeAuthority, Value: []byte(host)} }

// CRC32C returns a CRC32C TLV (§2.2.3). Its value is a placeholder:
// AppendBinary computes the checksum of the whole header, with this field
// zeroed, after everything else is written. A header carries at most one.
func CRC32C() TLV { return TLV{Type: TypeCRC32C, Value: crcPlaceholder[:]} }

// crcPlaceholder is the value of every CRC32C TLV: AppendBinary writes the
// checksum into its output and never reads or writes the TLV's value, so one
// shared array saves an allocation per header.
var crcPlaceholder [4]byte

// NOOP returns a NOOP TLV (§2.2.4) with n zero bytes of value, so the
// record takes n+3 bytes; receivers skip it. A negative n counts as 0.
func NOOP(n int) TLV { return TLV{Type: TypeNOOP, Value: make([]byte, max(n, 0))} }

// UniqueID returns the UNIQUE_ID TLV (§2.2.5): an opaque identifier of the
// connection, at most [MaxUniqueIDLen] bytes (checked when the header is
// written). The TLV refers to id; do not modify id while it is in use.
func UniqueID(id []byte) TLV { return TLV{Type: TypeUniqueID, Value: id} }

// NetNS returns the NETNS TLV (§2.2.7) naming the network namespace, in
// US-ASCII.
func NetNS(name string) TLV { return TLV{Type: TypeNetNS, Value: []byte(name)} }

// Custom returns an application-specific TLV (§2.2.8). It panics if t is
// outside [TypeMinCustom, TypeMaxCustom], as the type is a constant of the
// caller's protocol and a wrong one is a programming error. The TLV refers
// to value.
func Custom(t byte, value []byte) TLV {
	if t < TypeMinCustom || t > TypeMaxCustom {
		panic(fmt.Sprintf("proxyproto: custom TLV type %#02x outside 0xE0-0xEF", t))
	}
	return TLV{Type: t, Value: value}
}

// SSLInfo is the content of the SSL TLV (§2.2.6). Empty strings are left
// out of the TLV, as HAProxy leaves out what it does not know.
type SSLInfo struct {
	// Client tells whether the client used TLS and presented a certificate.
	Client ClientFlags
	// Verify is 0 if the client presented a certificate and it was
	// verified, non-zero otherwise (§2.2.6).
	Verify uint32
	// Version is the TLS version as OpenSSL names it ("TLSv1.3"); required
	// when Client has ClientSSL.
	Version string
	// CN is the Common Name of the client certificate's subject (UTF-8).
	CN string
	// Cipher is the cipher suite as OpenSSL names it
	// ("ECDHE-RSA-AES128-GCM-SHA256").
	Cipher string
	// SigAlg is the signature algorithm of the certificate the proxy
	// presented ("RSA-SHA256").
	SigAlg string
	// KeyAlg is the key algorithm and size of the certificate the proxy
	// presented ("RSA2048", "EC256").
	KeyAlg string
}

// SSL returns the SSL TLV (§2.2.6) with its sub-TLVs nested inside, in the
// order HAProxy writes them: VERSION, CN, KEY_ALG, SIG_ALG, CIPHER. Brokers
// such as EMQX read the client certificate CN only from here, never from a
// top-level TLV.
func SSL(info SSLInfo) TLV {
	subs := [...]struct {
		typ   byte
		value string
	}{
		{SubtypeSSLVersion, info.Version},
		{SubtypeSSLCN, info.CN},
		{SubtypeSSLKeyAlg, info.KeyAlg},
		{SubtypeSSLSigAlg, info.SigAlg},
		{SubtypeSSLCipher, info.Cipher},
	}
	n := sslFixedLen
	for _, s := range subs {
		if s.value != "" {
			n += tlvHeaderLen + len(s.value)
		}
	}
	v := make([]byte, 0, n)
	v = append(v, byte(info.Client))
	v = binary.BigEndian.AppendUint32(v, info.Verify)
	for _, s := range subs {
		if s.value == "" {
			continue
		}
		v = append(v, s.typ)
		// A longer string makes the whole TLV longer than 65535 bytes,
		// which AppendBinary reports as ErrTLVTooLong.
		v = binary.BigEndian.AppendUint16(v, uint16(min(len(s.value), 0xFFFF)))
		v = append(v, s.value...)
	}
	return TLV{Type: TypeSSL, Value: v}
}

// validate checks the rules of the TLV's type; crcSeen tracks the single
// CRC32C TLV a header may carry.
func (t *TLV) validate(crcSeen *bool) error {
	if len(t.Value) > 0xFFFF {
		return fmt.Errorf("%w: type %#02x, %d bytes", ErrTLVTooLong, t.Type, len(t.Value))
	}
	switch {
	case t.Type == TypeALPN, t.Type == TypeNOOP:
		return nil
	case t.Type == TypeAuthority:
		if !utf8.Valid(t.Value) {
			return fmt.Errorf("%w: AUTHORITY is not UTF-8", ErrEncoding)
		}
	case t.Type == TypeCRC32C:
		if len(t.Value) != 4 || *crcSeen {
			return ErrCRC32C
		}
		*crcSeen = true
	case t.Type == TypeUniqueID:
		if len(t.Value) > MaxUniqueIDLen {
			return fmt.Errorf("%w: %d bytes", ErrUniqueIDTooLong, len(t.Value))
		}
	case t.Type == TypeSSL:
		return validateSSL(t.Value)
	case t.Type == TypeNetNS:
		if !isASCII(t.Value) {
			return fmt.Errorf("%w: NETNS is not US-ASCII", ErrEncoding)
		}
	case t.Type >= TypeMinCustom && t.Type <= TypeMaxExperiment:
		return nil
	default:
		return fmt.Errorf("%w: %#02x", ErrTLVType, t.Type)
	}
	return nil
}

// validateSSL checks an SSL TLV value the way strict receivers read it:
// framing, non-empty strings in their encodings (US-ASCII, UTF-8 for the CN),
// and the VERSION sub-TLV PP2_CLIENT_SSL promises (§2.2.6).
func validateSSL(v []byte) error {
	if len(v) < sslFixedLen {
		return fmt.Errorf("%w: %d bytes, need at least 5", ErrSSL, len(v))
	}
	haveVersion := false
	for rest := v[sslFixedLen:]; len(rest) > 0; {
		if len(rest) < tlvHeaderLen {
			return fmt.Errorf("%w: truncated sub-TLV", ErrSSL)
		}
		typ, n := rest[0], int(binary.BigEndian.Uint16(rest[1:3]))
		if len(rest)-tlvHeaderLen < n {
			return fmt.Errorf("%w: truncated sub-TLV %#02x", ErrSSL, typ)
		}
		value := rest[tlvHeaderLen : tlvHeaderLen+n]
		rest = rest[tlvHeaderLen+n:]
		switch typ {
		case SubtypeSSLCN:
			if len(value) == 0 || !utf8.Valid(value) {
				return fmt.Errorf("%w: CN empty or not UTF-8", ErrSSL)
			}
		case SubtypeSSLVersion, SubtypeSSLCipher, SubtypeSSLSigAlg, SubtypeSSLKeyAlg:
			if len(value) == 0 || !isASCII(value) {
				return fmt.Errorf("%w: sub-TLV %#02x empty or not US-ASCII", ErrSSL, typ)
			}
			haveVersion = haveVersion || typ == SubtypeSSLVersion
		}
	}
	if ClientFlags(v[0])&ClientSSL != 0 && !haveVersion {
		return fmt.Errorf("%w: PP2_CLIENT_SSL without a VERSION sub-TLV", ErrSSL)
	}
	return nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
