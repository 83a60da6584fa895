package mqttlb

import (
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/proxyproto"
)

// benchConnInfo is a client as the proxy describes it after the CONNECT.
var benchConnInfo = balance.ConnInfo{
	ClientID:        "sensor-0042",
	RemoteAddr:      netip.MustParseAddrPort("203.0.113.7:51234"),
	LocalAddr:       netip.MustParseAddrPort("10.0.0.1:1883"),
	ProtocolVersion: 4,
}

// handshakeState returns the server side state of a TLS 1.3 handshake
// with a client certificate, as the proxy sees it.
func handshakeState(t testing.TB) *tls.ConnectionState {
	pki := testnet.NewPKI(t)
	srv, device := pki.Server(t, "proxy"), pki.Client(t, "device-42")
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, pki.ClientTLSConfig(device.Cert)).Handshake()
	sc := tls.Server(b, &tls.Config{Certificates: []tls.Certificate{srv.Cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool, NextProtos: []string{"mqtt"}})
	require.NoError(t, sc.Handshake())
	cs := sc.ConnectionState()
	return &cs
}

func TestAppendFirstAllocatesNothingForPlainTCP(t *testing.T) {
	hello := connectWire(4, benchConnInfo.ClientID, 30)
	buf := make([]byte, 0, firstWriteSize)
	for _, opts := range []proxyproto.Options{{Version: 1}, {Version: 2}, proxyproto.EMQX, {Version: 2, CRC32C: true}} {
		pool := &Pool{ProxyProtocol: &opts}
		allocs := testing.AllocsPerRun(100, func() {
			out, err := pool.appendFirst(buf[:0], benchConnInfo, nil, hello)
			if err != nil || len(out) <= len(hello) {
				t.Fatalf("appendFirst: %d bytes, %v", len(out), err)
			}
		})
		assert.Zero(t, allocs, "%+v", opts)
	}
}

func TestWriteFirstIsOneWrite(t *testing.T) {
	hello := connectWire(4, benchConnInfo.ClientID, 30)
	var w countingWriter
	pool := &Pool{ProxyProtocol: &proxyproto.Options{Version: 2}}
	require.NoError(t, pool.writeFirst(&w, benchConnInfo, nil, hello))
	assert.Equal(t, 1, w.writes)
	assert.Equal(t, 16+12+len(hello), w.bytes, "v2 fixed part, IPv4 addresses, then the CONNECT")

	w = countingWriter{}
	require.NoError(t, (&Pool{}).writeFirst(&w, benchConnInfo, nil, hello))
	assert.Equal(t, countingWriter{writes: 1, bytes: len(hello)}, w, "no header without ProxyProtocol")

	bad := &Pool{Name: "bad", ProxyProtocol: &proxyproto.Options{Version: 3}}
	assert.ErrorIs(t, bad.writeFirst(io.Discard, benchConnInfo, nil, hello), proxyproto.ErrVersion)
}

type countingWriter struct{ writes, bytes int }

func (w *countingWriter) Write(b []byte) (int, error) {
	w.writes++
	w.bytes += len(b)
	return len(b), nil
}

// BenchmarkAppendFirst measures the PROXY header and CONNECT append of
// every proxied connection.
func BenchmarkAppendFirst(b *testing.B) {
	hello := connectWire(4, benchConnInfo.ClientID, 30)
	cs := handshakeState(b)
	clientIDTLV := func(ci balance.ConnInfo) []proxyproto.TLV {
		return []proxyproto.TLV{proxyproto.Custom(0xE0, []byte(ci.ClientID))}
	}
	for _, bc := range []struct {
		name string
		opts proxyproto.Options
		tls  *tls.ConnectionState
		tlvs func(balance.ConnInfo) []proxyproto.TLV
	}{
		{"v1", proxyproto.Options{Version: 1}, nil, nil},
		{"v2", proxyproto.Options{Version: 2}, nil, nil},
		{"v2-crc32c", proxyproto.Options{Version: 2, CRC32C: true}, nil, nil},
		{"v2-clientid-tlv", proxyproto.Options{Version: 2}, nil, clientIDTLV},
		{"emqx-tls-cn", proxyproto.EMQX, cs, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pool := &Pool{ProxyProtocol: &bc.opts, ProxyTLVs: bc.tlvs}
			buf := make([]byte, 0, firstWriteSize)
			b.ReportAllocs()
			for b.Loop() {
				out, err := pool.appendFirst(buf[:0], benchConnInfo, bc.tls, hello)
				if err != nil {
					b.Fatal(err)
				}
				buf = out
			}
		})
	}
}

// BenchmarkTLSHandshakeConnect measures connections per second through a
// TLS-terminating proxy: a full TLS 1.3 handshake (ECDSA P-256, client
// certificate, no resumption), CONNECT, the broker's CONNACK through the
// proxy, close. Client, proxy and broker share the machine, so the figure
// is a floor for the proxy alone.
func BenchmarkTLSHandshakeConnect(b *testing.B) {
	pki := testnet.NewPKI(b)
	c := startCluster(b, 1)
	srv, device := pki.Server(b, "proxy"), pki.Client(b, "device")
	pool := &Pool{Name: "broker", Logger: quietLogger()}
	pool.SetBackends(backendsFor(c.Addrs()...))
	addr := startTLSProxy(b, &Proxy{Default: pool}, TLSConfig{
		CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: pki.CAFile}, nil)
	cfg := pki.ClientTLSConfig(device.Cert)
	// An empty client ID with a clean session: the broker names each
	// client, so no connection takes over another's session.
	wire := connectWire(4, "", 0)
	connect := func(b *testing.B, reply []byte) {
		conn, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(wire); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, reply); err != nil || reply[0] != 0x20 || reply[3] != 0 {
			b.Fatalf("CONNACK: % x, %v", reply, err)
		}
	}
	b.Run("serial", func(b *testing.B) {
		reply := make([]byte, 4)
		b.ReportAllocs()
		for b.Loop() {
			connect(b, reply)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			reply := make([]byte, 4)
			for pb.Next() {
				connect(b, reply)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
	})
}
