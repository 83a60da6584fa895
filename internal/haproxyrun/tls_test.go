package haproxyrun

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	pires "github.com/pires/go-proxyproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/mqttlb"
)

// proxyBackend is a broker stand-in that expects a PROXY header on every
// connection, as EMQX's listeners with proxy_protocol do: it reports the
// header's source address and answers the CONNECT with a CONNACK.
func proxyBackend(t *testing.T) (string, <-chan string) {
	t.Helper()
	sources := make(chan string, 16)
	addr := testnet.Serve(t, func(conn net.Conn) {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		h, err := pires.Read(br)
		if err != nil {
			sources <- "no PROXY header: " + err.Error()
			return
		}
		sources <- h.SourceAddr.String()
		if skipPacket(br) != nil {
			return
		}
		conn.Write([]byte{0x20, 2, 0, 0})
		io.Copy(io.Discard, br)
	})
	return addr, sources
}

// skipPacket reads one MQTT packet: fixed header, remaining length, body.
func skipPacket(br *bufio.Reader) error {
	if _, err := br.ReadByte(); err != nil {
		return err
	}
	n, shift := 0, 0
	for {
		b, err := br.ReadByte()
		if err != nil {
			return err
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		shift += 7
	}
	_, err := br.Discard(n)
	return err
}

// tlsClient connects over TLS, with the client certificate when cert is
// not empty, and exchanges CONNECT and CONNACK.
func tlsClient(t *testing.T, addr, cert string) (*tls.Conn, error) {
	t.Helper()
	caPEM, err := os.ReadFile("testdata/certs/cacert.pem")
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, cert)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{pair}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(connectWire("tls-client", true)); err != nil {
		return nil, err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		return nil, err
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		return nil, &net.OpError{Op: "connack", Err: io.ErrUnexpectedEOF}
	}
	return conn, nil
}

// TestEMQXTLSConfig runs the EMQX guide's TLS configuration: TLS
// terminated at the proxy (and mutual TLS on the second frontend), and
// PROXY v2 headers with the client's address to the nodes.
func TestEMQXTLSConfig(t *testing.T) {
	b1, src1 := proxyBackend(t)
	b2, src2 := proxyBackend(t)
	b3, src3 := proxyBackend(t)
	certs, err := filepath.Abs("testdata/certs")
	require.NoError(t, err)
	r := startRunner(t, seedConfig(t, "emqx-tls.cfg",
		"127.0.0.1:11883", b1, "127.0.0.1:11884", b2, "127.0.0.1:11885", b3,
		"127.0.0.1:8883", "127.0.0.1:0", "127.0.0.1:8884", "127.0.0.2:0", "certs/", certs+"/"))
	tlsAddr, mtlsAddr := boundAddr(t, r, "127.0.0.1:0"), boundAddr(t, r, "127.0.0.2:0")

	conn, err := tlsClient(t, tlsAddr, "")
	require.NoError(t, err)
	var got string
	select {
	case got = <-src1:
	case got = <-src2:
	case got = <-src3:
	case <-time.After(5 * time.Second):
		t.Fatal("no backend connection")
	}
	assert.Equal(t, conn.LocalAddr().String(), got, "the PROXY v2 header carries the client's address")

	_, err = tlsClient(t, mtlsAddr, "")
	assert.Error(t, err, "verify required: no client certificate, no session")
	_, err = tlsClient(t, mtlsAddr, "testdata/certs/client.pem")
	assert.NoError(t, err, "a client certificate signed by the ca-file is accepted")
}

// TestAcceptProxyRoutesOnTheRealSource: behind another load balancer
// ("bind ... accept-proxy"), ACLs on src see the address of the PROXY
// header, not the load balancer's.
func TestAcceptProxyRoutesOnTheRealSource(t *testing.T) {
	c := startCluster(t, cluster.Config{Nodes: 2})
	nodes := c.Nodes()
	r := startRunner(t, writeTemp(t, `frontend mqtt
  bind 127.0.0.1:0 accept-proxy
  use_backend office if { src 203.0.113.0/24 }
  default_backend others
backend office
  server n1 `+nodes[0].Addr()+`
backend others
  server n2 `+nodes[1].Addr()+`
`))
	addr := boundAddr(t, r, "127.0.0.1:0")
	for id, src := range map[string]string{"from-office": "203.0.113.7:4242", "from-home": "198.51.100.9:4242"} {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		h := pires.HeaderProxyFromAddrs(2, net.TCPAddrFromAddrPort(mustAddrPort(t, src)), conn.RemoteAddr())
		_, err = h.WriteTo(conn)
		require.NoError(t, err)
		_, err = conn.Write(connectWire(id, true))
		require.NoError(t, err)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		ack := make([]byte, 4)
		_, err = io.ReadFull(conn, ack)
		require.NoError(t, err)
	}
	assert.Equal(t, "node1", holder(t, nodes, "from-office"))
	assert.Equal(t, "node2", holder(t, nodes, "from-home"))
}

// TestStatsPages serves the Qiita article's stats section (two users,
// a realm, hide-version, uri /) and the Mosquitto blog's (no auth).
func TestStatsPages(t *testing.T) {
	c := startCluster(t, cluster.Config{Nodes: 2})
	nodes := c.Nodes()
	r := startRunner(t, seedConfig(t, "qiita.cfg",
		"127.0.0.1:11883", nodes[0].Addr(), "127.0.0.1:11884", nodes[1].Addr(),
		"127.0.0.1:1883", "127.0.0.1:0", "127.0.0.1:1936", "127.0.0.2:0"))
	mqttConnect(t, boundAddr(t, r, "127.0.0.1:0"), "", "stats-client", true)
	page := "http://" + boundAddr(t, r, "127.0.0.2:0") + "/"

	get := func(url, user, pass string) (*http.Response, []byte) {
		req, err := http.NewRequest("GET", url, nil)
		require.NoError(t, err)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, body
	}
	resp, _ := get(page, "", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), `realm="Strictly Private"`)
	resp, _ = get(page, "A_Username", "wrong")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	for _, user := range [][2]string{{"A_Username", "YourPassword"}, {"Another_User", "passwd"}} {
		resp, body := get(page, user[0], user[1])
		assert.Equal(t, http.StatusOK, resp.StatusCode, user[0])
		assert.Contains(t, string(body), "broker_1")
	}
	resp, body := get(page+";json", "Another_User", "passwd")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st mqttlb.Stats
	require.NoError(t, json.Unmarshal(body, &st))
	require.Len(t, st.Pools, 1)
	assert.Equal(t, "mqtt", st.Pools[0].Name)
	assert.Equal(t, int64(1), st.Proxy.Current, "the one client connected")
}

func mustAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	require.NoError(t, err)
	return ap
}
