package proxyproto

import (
	"crypto/tls"
	"testing"

	goproxyproto "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetKeyword(t *testing.T) {
	tests := []struct {
		keyword string
		want    Options
	}{
		{"send-proxy", Options{Version: 1}},
		{"send-proxy-v2", Options{Version: 2}},
		{"send-proxy-v2-ssl", Options{Version: 2, SSL: true}},
		{"send-proxy-v2-ssl-cn", Options{Version: 2, SSL: true, CertCN: true}},
	}
	for _, tt := range tests {
		t.Run(tt.keyword, func(t *testing.T) {
			var o Options
			require.True(t, o.SetKeyword(tt.keyword))
			assert.Equal(t, tt.want, o)
		})
	}
	o := Options{Version: 2, CRC32C: true}
	assert.False(t, o.SetKeyword("send-proxy-v3"))
	assert.Equal(t, Options{Version: 2, CRC32C: true}, o, "unchanged")
}

func TestSetV2Options(t *testing.T) {
	var o Options
	require.NoError(t, o.SetV2Options("authority,crc32c,unique-id"))
	assert.Equal(t, Options{Authority: true, CRC32C: true, UniqueID: true}, o, "no version: proxy-v2-options alone sends nothing")

	o = Options{Version: 2}
	require.NoError(t, o.SetV2Options("cert-cn,ssl-cipher,cert-sig,cert-key"))
	assert.Equal(t, Options{Version: 2, SSL: true, CertCN: true, SSLCipher: true, CertSig: true, CertKey: true}, o)

	o = Options{Version: 2}
	require.NoError(t, o.SetV2Options("ssl"))
	assert.Equal(t, Options{Version: 2, SSL: true}, o)

	o = Options{Version: 2}
	err := o.SetV2Options("ssl,cert-dn")
	require.ErrorIs(t, err, ErrUnknownOption)
	assert.Contains(t, err.Error(), `"cert-dn"`)
	assert.Equal(t, Options{Version: 2}, o, "unchanged on error")
}

// connTLV finds a TLV by type in what go-proxyproto parsed.
func connTLV(tlvs []goproxyproto.TLV, typ byte) (goproxyproto.TLV, bool) {
	for _, tlv := range tlvs {
		if byte(tlv.Type) == typ {
			return tlv, true
		}
	}
	return goproxyproto.TLV{}, false
}

func TestOptionsHeaderPerBroker(t *testing.T) {
	pki, err := loadPKI()
	require.NoError(t, err)
	state := handshake(t, pki.serverConfig(tls.RequireAndVerifyClientCert), pki.clientConfig(true))
	require.Equal(t, "mqtt", state.NegotiatedProtocol)
	conn := ConnInfo{
		Source: fxSrc4, Destination: fxDst4, TLS: &state,
		LocalCertificate: pki.server.Leaf, UniqueID: []byte("conn-0001"),
		Extra: []TLV{Custom(0xEA, []byte("vpce-1"))},
	}
	all := Options{Version: 2, SSL: true, CertCN: true, SSLCipher: true, CertSig: true,
		CertKey: true, Authority: true, CRC32C: true, UniqueID: true}
	tests := []struct {
		name      string
		opts      Options
		wantTypes []byte
		wantSSL   SSLInfo
	}{
		{"EMQX", EMQX, []byte{TypeALPN, TypeAuthority, TypeSSL, 0xEA},
			SSLInfo{Client: 7, Version: "TLSv1.3", CN: "device-42"}},
		{"HiveMQ", HiveMQ, []byte{TypeALPN, TypeSSL, 0xEA},
			SSLInfo{Client: 7, Version: "TLSv1.3", CN: "device-42", Cipher: cipherName(state.CipherSuite)}},
		{"Mosquitto", Mosquitto, []byte{TypeALPN, TypeSSL, 0xEA},
			SSLInfo{Client: 7, Version: "TLSv1.3", CN: "device-42", Cipher: cipherName(state.CipherSuite)}},
		{"send-proxy-v2", Options{Version: 2}, []byte{TypeALPN, 0xEA}, SSLInfo{}},
		{"every option", all,
			[]byte{TypeCRC32C, TypeALPN, TypeAuthority, TypeUniqueID, TypeSSL, 0xEA},
			SSLInfo{Client: 7, Version: "TLSv1.3", CN: "device-42", Cipher: cipherName(state.CipherSuite),
				SigAlg: "ecdsa-with-SHA256", KeyAlg: "RSA2048"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.opts.Header(conn)
			var types []byte
			for _, tlv := range h.TLVs {
				types = append(types, tlv.Type)
			}
			assert.Equal(t, tt.wantTypes, types, "TLVs in HAProxy's order")

			wire, err := tt.opts.AppendHeader(nil, conn)
			require.NoError(t, err)
			var ssl *SSLInfo
			if tt.wantSSL.Client != 0 {
				ssl = &tt.wantSSL
			}
			assertV2ParsesBack(t, &h, wire, ssl)

			parsed, err := readHeader(t, wire).TLVs()
			require.NoError(t, err)
			if _, ok := connTLV(parsed, TypeSSL); ok {
				// The CN is nested in the SSL TLV, never at the top level,
				// which is the only place EMQX reads it.
				_, top := connTLV(parsed, SubtypeSSLCN)
				assert.False(t, top)
				pp2, ok := tlvparse.FindSSL(parsed)
				require.True(t, ok)
				cn, ok := pp2.ClientCN()
				assert.True(t, ok)
				assert.Equal(t, "device-42", cn)
			}
		})
	}
}

func TestOptionsHeaderWithoutTLS(t *testing.T) {
	h := EMQX.Header(ConnInfo{Source: fxSrc4, Destination: fxDst4, Authority: "broker.example.com"})
	assert.Equal(t, ProxyHeader(fxSrc4, fxDst4, Authority("broker.example.com")), h,
		"no SSL TLV for a plain TCP client; AUTHORITY from ConnInfo")

	h = Options{Version: 2, CRC32C: true, SSL: true}.Header(ConnInfo{})
	assert.Equal(t, Header{TLVs: []TLV{CRC32C()}}, h, "no client addresses: LOCAL, as HAProxy sends")
}

func TestAppendHeaderVersions(t *testing.T) {
	conn := ConnInfo{Source: fxSrc4, Destination: fxDst4}

	got, err := Options{}.AppendHeader([]byte("x"), conn)
	require.NoError(t, err)
	assert.Equal(t, "x", string(got), "version 0 sends nothing")

	got, err = Options{Version: 1, SSL: true}.AppendHeader(nil, conn)
	require.NoError(t, err)
	assert.Equal(t, fxV1IPv4, string(got))

	got, err = Options{Version: 1}.AppendHeader(nil, ConnInfo{})
	require.NoError(t, err)
	assert.Equal(t, "PROXY UNKNOWN\r\n", string(got))

	got, err = Options{Version: 2}.AppendHeader(nil, conn)
	require.NoError(t, err)
	assert.Equal(t, fixtures[0].bytes(), got)

	got, err = Options{Version: 3}.AppendHeader([]byte("x"), conn)
	require.ErrorIs(t, err, ErrVersion)
	assert.Equal(t, "x", string(got))

	_, err = Options{Version: 2, UniqueID: true}.AppendHeader(nil,
		ConnInfo{Source: fxSrc4, Destination: fxDst4, UniqueID: make([]byte, 200)})
	require.ErrorIs(t, err, ErrUniqueIDTooLong)
}

func TestAppendHeaderZeroAllocationsWithoutTLS(t *testing.T) {
	conn := ConnInfo{Source: fxSrc4, Destination: fxDst4, Extra: []TLV{Custom(0xE0, []byte{1})}}
	buf := make([]byte, 0, 256)
	for _, opts := range []Options{EMQX, HiveMQ, Mosquitto, {Version: 1}, {Version: 2, CRC32C: true, Authority: true}} {
		allocs := testing.AllocsPerRun(100, func() {
			out, err := opts.AppendHeader(buf[:0], conn)
			if err != nil || len(out) == 0 {
				t.Fatal("AppendHeader failed")
			}
		})
		assert.Zero(t, allocs, "%+v", opts)
	}
}
