// Package proxyproto writes PROXY protocol headers, so that a broker behind
// this proxy sees the real client address and, when TLS ends here, the
// client certificate's identity.
//
// It implements the sending side of HAProxy's "The PROXY protocol, Versions
// 1 & 2" (doc/proxy-protocol.txt, 2020/03/05); section numbers in this
// package (§2.1, §2.2.6) refer to it. Reading headers is out of scope: a
// listener that receives them should use github.com/pires/go-proxyproto.
//
//	opts := proxyproto.EMQX // v2 with the SSL TLV and the client CN
//	buf, err := opts.AppendHeader(buf[:0], proxyproto.ConnInfo{
//		Source:      clientAddr, // netip.AddrPort
//		Destination: listenAddr,
//		TLS:         &state, // from (*tls.Conn).ConnectionState; nil for TCP
//	})
//	if err != nil {
//		return err
//	}
//	_, err = backend.Write(buf) // before the client's CONNECT
//
// Or build a [Header] directly; [Header.AppendBinary] allocates nothing
// when the buffer has room:
//
//	h := proxyproto.ProxyHeader(src, dst,
//		proxyproto.SSL(proxyproto.SSLInfoFromTLS(&state)),
//		proxyproto.CRC32C())
//	buf, err = h.AppendBinary(buf[:0])
//
// A health check sends [LocalHeader]: the receiver then uses the real
// connection endpoints.
//
// # Version 2 (§2.2)
//
// A v2 header is the 16-byte fixed part, the address block (IPv4, IPv6,
// mixed families mapped to IPv6, or UNIX paths of 108 bytes each; nothing
// for LOCAL) and TLVs: ALPN, AUTHORITY, CRC32C, NOOP, UNIQUE_ID, SSL with
// its VERSION, CN, CIPHER, SIG_ALG and KEY_ALG sub-TLVs, NETNS, and custom
// types 0xE0-0xEF. Every limit of the specification is checked before
// anything is written, with sentinel errors ([ErrHeaderTooLong],
// [ErrUniqueIDTooLong], [ErrUnixPath], ...).
//
// # Version 1 (§2.1)
//
// [Header.AppendV1] writes "PROXY TCP4 ...\r\n", "PROXY TCP6 ...\r\n" or
// "PROXY UNKNOWN\r\n" for peers that read only the text format; it cannot
// carry TLVs.
//
// # What the brokers read
//
// [Options] maps HAProxy's server keywords (send-proxy, send-proxy-v2,
// send-proxy-v2-ssl, send-proxy-v2-ssl-cn, proxy-v2-options) to TLVs, with
// ready sets per broker:
//
//   - EMQX (listener proxy_protocol = true) reads v1 and v2. Its esockd
//     parser takes the client certificate CN only from the CN sub-TLV nested
//     in the SSL TLV (PP2_SUBTYPE_SSL_CN inside PP2_TYPE_SSL), never from a
//     top-level TLV, and uses it for peer_cert_as_username and
//     peer_cert_as_clientid; v1 carries no CN at all. It takes AUTHORITY as
//     the client's SNI. Use [EMQX].
//   - HiveMQ (Enterprise, all listener types) reads v1 and v2 with standard
//     and custom TLVs, and accepts connections with or without a header on
//     the same listener. Use [HiveMQ].
//   - Mosquitto 2.1 and later (listener option enable_proxy_protocol 1 or 2)
//     reads v1 and v2. Over v2 (src/proxy_v2.c) it accepts TCP over IPv4,
//     IPv6 and UNIX stream only, caps the bytes after the fixed header at
//     500, and ends a LOCAL header with MOSQ_ERR_PROXY, so do not send one
//     to its MQTT listener from a health check. It counts a client certificate as present only when
//     the SSL TLV has PP2_CLIENT_SSL and PP2_CLIENT_CERT_SESS with verify 0
//     (require_certificate), and takes the CN sub-TLV as the username when
//     use_identity_as_username is set. Use [Mosquitto].
//
// All functions are safe for concurrent use; a [Header] is a plain value
// that must not be modified while another goroutine writes it.
package proxyproto
