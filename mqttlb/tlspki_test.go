package mqttlb

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	pires "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
)

// startTLSProxy serves p on a loopback TLS listener made from cfg, with
// the inbound listener wrapped by wrap when it is not nil.
func startTLSProxy(t testing.TB, p *Proxy, cfg TLSConfig, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	tcfg, err := cfg.ServerConfig()
	require.NoError(t, err)
	return startWrappedProxy(t, p, func(ln net.Listener) net.Listener {
		if wrap != nil {
			ln = wrap(ln)
		}
		return tls.NewListener(ln, tcfg)
	})
}

// seenHeader is what a PROXY-reading backend received: the parsed header,
// its TLVs and the MQTT packet behind it.
type seenHeader struct {
	header *pires.Header
	tlvs   []pires.TLV
	ssl    tlvparse.PP2SSL
	hasSSL bool
	packet []byte
}

// tlv returns the value of the first TLV of the type, or nil.
func (s seenHeader) tlv(typ pires.PP2Type) []byte {
	for _, v := range s.tlvs {
		if v.Type == typ {
			return v.Value
		}
	}
	return nil
}

// proxyReadingBackend is a backend that reads a PROXY header with
// github.com/pires/go-proxyproto, as a broker with proxy_protocol would,
// then the CONNECT; it reports both and answers CONNACK.
func proxyReadingBackend(t testing.TB) (string, <-chan seenHeader) {
	t.Helper()
	seen := make(chan seenHeader, 64)
	addr := testnet.Serve(t, func(conn net.Conn) { serveProxyReader(conn, seen) })
	return addr, seen
}

func serveProxyReader(conn net.Conn, seen chan<- seenHeader) {
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	h, err := pires.Read(br)
	if err != nil {
		return
	}
	s := seenHeader{header: h}
	s.tlvs, _ = h.TLVs()
	s.ssl, s.hasSSL = tlvparse.FindSSL(s.tlvs)
	c, _, err := ReadConnect(&bufferedConn{Conn: conn, r: br}, 5*time.Second, 0)
	if err != nil {
		return
	}
	s.packet = append([]byte(nil), c.Bytes[:c.Len]...)
	c.Release()
	seen <- s
	conn.Write(connackOK311)
	// Hold the connection until the client leaves.
	conn.SetDeadline(time.Time{})
	br.WriteTo(io.Discard)
}

// bufferedConn reads through a bufio.Reader that may hold bytes already.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
