package proxyproto

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func BenchmarkAppendBinary(b *testing.B) {
	benchmarks := []struct {
		name   string
		header Header
	}{
		{"IPv4 no TLV", ProxyHeader(fxSrc4, fxDst4)},
		{"IPv6 no TLV", ProxyHeader(fxSrc6, fxDst6)},
		{"IPv4 SSL+CN+CRC32C", ProxyHeader(fxSrc4, fxDst4, CRC32C(),
			SSL(SSLInfo{Client: ClientSSL | ClientCertConn | ClientCertSess, Version: "TLSv1.3", CN: "device-42"}))},
		{"IPv4 every TLV", fixtures[len(fixtures)-1].header},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				out, err := bm.header.AppendBinary(buf[:0])
				if err != nil {
					b.Fatal(err)
				}
				buf = out
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkAppendV1(b *testing.B) {
	for _, bm := range []struct {
		name   string
		header Header
	}{
		{"TCP4", ProxyHeader(fxSrc4, fxDst4)},
		{"TCP6", ProxyHeader(fxSrc6, fxDst6)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			buf := make([]byte, 0, MaxV1Len)
			b.ReportAllocs()
			for b.Loop() {
				out, err := bm.header.AppendV1(buf[:0])
				if err != nil {
					b.Fatal(err)
				}
				buf = out
			}
		})
	}
}

// BenchmarkOptionsAppendHeader measures the whole per-connection path from a
// ConnInfo, including building the TLVs.
func BenchmarkOptionsAppendHeader(b *testing.B) {
	pki, err := loadPKI()
	if err != nil {
		b.Fatal(err)
	}
	leaf := pki.client.Leaf
	state := &tls.ConnectionState{
		Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256,
		NegotiatedProtocol: "mqtt", ServerName: "broker.example.com",
		PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}},
	}
	for _, bm := range []struct {
		name string
		conn ConnInfo
	}{
		{"EMQX TCP", ConnInfo{Source: fxSrc4, Destination: fxDst4}},
		{"EMQX TLS", ConnInfo{Source: fxSrc4, Destination: fxDst4, TLS: state}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				out, err := EMQX.AppendHeader(buf[:0], bm.conn)
				if err != nil {
					b.Fatal(err)
				}
				buf = out
			}
		})
	}
}
