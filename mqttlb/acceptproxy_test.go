package mqttlb

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	pires "github.com/pires/go-proxyproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/proxyproto"
)

// acceptProxyListener wraps ln as a proxy behind an AWS NLB wraps it: every
// connection must open with a PROXY header.
func acceptProxyListener(ln net.Listener) net.Listener {
	return &pires.Listener{Listener: ln}
}

// writeInboundHeader writes the PROXY v2 header another load balancer
// would send for a client at src that reached dst.
func writeInboundHeader(t testing.TB, conn net.Conn, src, dst netip.AddrPort) {
	t.Helper()
	h := pires.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(src), net.TCPAddrFromAddrPort(dst))
	_, err := h.WriteTo(conn)
	require.NoError(t, err)
}

// TestAcceptProxyAddressFlowsThrough puts the proxy behind another load
// balancer: clients' connections all come from 127.0.0.1 with a PROXY
// header naming the real client. That address must be the one the proxy
// hashes, reports and passes on in its own header.
func TestAcceptProxyAddressFlowsThrough(t *testing.T) {
	pki := testnet.NewPKI(t)
	srv := pki.Server(t, "proxy")
	device := pki.Client(t, "device-9")
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "tls"}[useTLS], func(t *testing.T) {
			b1, seen1 := proxyReadingBackend(t)
			b2, seen2 := proxyReadingBackend(t)
			backends := backendsFor(b1, b2)
			opts := proxyproto.Options{Version: 2, SSL: true, CertCN: true}
			hash := balance.SourceHash{LoadFactor: -1}
			pool := &Pool{Name: "brokers", Balancer: hash, ProxyProtocol: &opts}
			pool.SetBackends(backends)
			events := newEventLog()
			proxy := &Proxy{Default: pool, OnConn: events.add}
			var addr string
			if useTLS {
				addr = startTLSProxy(t, proxy, TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: pki.CAFile},
					acceptProxyListener)
			} else {
				addr = startWrappedProxy(t, proxy, acceptProxyListener)
			}
			predict := hash.Build(balance.BuildInfo{Backends: backends})
			seenBy := map[string]<-chan seenHeader{"node1": seen1, "node2": seen2}
			dst := netip.MustParseAddrPort("198.51.100.1:8883")

			used := map[string]bool{}
			for i := range 8 {
				src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(7 + i)}), uint16(40000+i))
				conn, err := net.Dial("tcp", addr)
				require.NoError(t, err)
				writeInboundHeader(t, conn, src, dst)
				var mqtt net.Conn = conn
				if useTLS {
					mqtt = tls.Client(conn, pki.ClientTLSConfig(device.Cert))
				}
				id := fmt.Sprintf("behind-nlb-%d", i)
				_, err = mqtt.Write(connectWire(4, id, 30))
				require.NoError(t, err)

				want, err := predict.Pick(balance.ConnInfo{RemoteAddr: src})
				require.NoError(t, err)
				used[want.ID()] = true
				var s seenHeader
				select {
				case s = <-seenBy[want.ID()]:
				case <-time.After(5 * time.Second):
					t.Fatalf("%s from %v did not reach %s, the backend its source hashes to", id, src, want.ID())
				}
				assert.Equal(t, src.String(), s.header.SourceAddr.String(), "outbound header source")
				assert.Equal(t, dst.String(), s.header.DestinationAddr.String(), "outbound header destination")
				if useTLS {
					cn, _ := s.ssl.ClientCN()
					assert.Equal(t, "device-9", cn)
				} else {
					assert.False(t, s.hasSSL, "no SSL TLV for a plain TCP client")
				}
				mqtt.Close()
				testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == i+1 }, "the connection to end")
				ev := events.all()[i]
				assert.Equal(t, src, ev.Remote, "ConnEvent.Remote (and the log line) show the real client")
				assert.Equal(t, dst, ev.Local)
				assert.Equal(t, want.ID(), ev.Backend)
			}
			assert.Len(t, used, 2, "the real addresses spread over both backends; the listener's peer is always 127.0.0.1")
		})
	}
}

func TestAcceptProxyRequiresHeaderWithinConnectTimeout(t *testing.T) {
	pki := testnet.NewPKI(t)
	srv := pki.Server(t, "proxy")
	for _, useTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "tls"}[useTLS], func(t *testing.T) {
			events := newEventLog()
			pool := &Pool{Name: "brokers"}
			pool.SetBackends(backendsFor(closedAddr(t)))
			proxy := &Proxy{Default: pool, ConnectTimeout: 300 * time.Millisecond, OnConn: events.add}
			var addr string
			if useTLS {
				addr = startTLSProxy(t, proxy, TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile}, acceptProxyListener)
			} else {
				addr = startWrappedProxy(t, proxy, acceptProxyListener)
			}

			silent, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer silent.Close()
			noHeader, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer noHeader.Close()
			var first net.Conn = noHeader
			if useTLS {
				first = tls.Client(noHeader, pki.ClientTLSConfig())
			}
			go first.Write(connectWire(4, "no-header", 30))

			testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == 2 }, "both clients refused")
			for _, ev := range events.all() {
				assert.Equal(t, "refused", ev.End)
				assert.Empty(t, ev.ClientID, "nothing read past a missing header")
				assert.Equal(t, "127.0.0.1", ev.Remote.Addr().String(), "without a header the peer's own address")
			}
		})
	}
}
