package mqttlb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho311 "github.com/eclipse/paho.mqtt.golang"
	pires "github.com/pires/go-proxyproto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/proxyproto"
)

func TestParseClientAuth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ClientAuth
	}{
		{"none", ClientAuthNone},
		{"optional", ClientAuthOptional},
		{"required", ClientAuthRequired},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseClientAuth(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, got.String())
		})
	}
	_, err := ParseClientAuth("Required")
	assert.ErrorIs(t, err, ErrTLSConfig)
}

func TestTLSConfigServerConfig(t *testing.T) {
	pki := testnet.NewPKI(t)
	srv := pki.Server(t, "server")
	other := pki.Server(t, "other")
	combined := filepath.Join(pki.Dir, "combined.pem")
	require.NoError(t, os.WriteFile(combined, append(append([]byte(nil), srv.CertPEM...), srv.KeyPEM...), 0o600))
	notPEM := filepath.Join(pki.Dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))

	for _, tc := range []struct {
		name       string
		cfg        TLSConfig
		wantErr    bool
		clientAuth tls.ClientAuthType
	}{
		{"cert and key", TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile}, false, tls.NoClientCert},
		{"key inside the cert file, as HAProxy's crt", TLSConfig{CertFile: combined}, false, tls.NoClientCert},
		{"a CA without verify means required",
			TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: pki.CAFile}, false, tls.RequireAndVerifyClientCert},
		{"verify none with a CA",
			TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: pki.CAFile, ClientAuth: ClientAuthNone}, false, tls.NoClientCert},
		{"verify optional",
			TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: pki.CAFile, ClientAuth: ClientAuthOptional}, false, tls.VerifyClientCertIfGiven},
		{"missing cert file", TLSConfig{CertFile: filepath.Join(pki.Dir, "absent.pem")}, true, 0},
		{"key of another certificate", TLSConfig{CertFile: srv.CertFile, KeyFile: other.KeyFile}, true, 0},
		{"verify required without a CA", TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientAuth: ClientAuthRequired}, true, 0},
		{"CA file without certificates",
			TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: notPEM}, true, 0},
		{"unknown ClientAuth", TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientAuth: 9}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := tc.cfg.ServerConfig()
			if tc.wantErr {
				assert.ErrorIs(t, err, ErrTLSConfig)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.clientAuth, cfg.ClientAuth)
			assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion, "TLS 1.2 or newer by default")
			cert, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
			require.NoError(t, err)
			assert.Equal(t, "server", cert.Leaf.Subject.CommonName)
		})
	}
}

// handshakeCN completes a TLS handshake with the server configuration
// over a pipe and returns the CN of the certificate the server presented.
func handshakeCN(t *testing.T, server *tls.Config, pki *testnet.PKI) string {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Server(b, server).Handshake()
	c := tls.Client(a, pki.ClientTLSConfig())
	require.NoError(t, c.Handshake())
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestTLSCertificateReloadsWhenFilesChange(t *testing.T) {
	pki := testnet.NewPKI(t)
	first := pki.Server(t, "first")
	second := pki.Server(t, "second")
	certFile, keyFile := filepath.Join(pki.Dir, "live.pem"), filepath.Join(pki.Dir, "live.key")
	// replace writes the files and moves their times forward, so that
	// the change shows even on a file system with coarse timestamps.
	var bump time.Duration
	replace := func(certPEM, keyPEM []byte) {
		require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
		require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
		bump += time.Minute
		at := time.Now().Add(bump)
		require.NoError(t, os.Chtimes(certFile, at, at))
		require.NoError(t, os.Chtimes(keyFile, at, at))
	}
	replace(first.CertPEM, first.KeyPEM)
	cfg, err := TLSConfig{CertFile: certFile, KeyFile: keyFile, Logger: quietLogger()}.ServerConfig()
	require.NoError(t, err)

	assert.Equal(t, "first", handshakeCN(t, cfg, pki))
	replace(second.CertPEM, second.KeyPEM)
	assert.Equal(t, "second", handshakeCN(t, cfg, pki), "new files are served without a restart")

	// A certificate written before its key: the pair does not match, so
	// the loaded certificate stays until the key arrives.
	replace(first.CertPEM, second.KeyPEM)
	assert.Equal(t, "second", handshakeCN(t, cfg, pki), "a broken pair keeps the previous certificate")
	assert.Equal(t, "second", handshakeCN(t, cfg, pki))
	replace(first.CertPEM, first.KeyPEM)
	assert.Equal(t, "first", handshakeCN(t, cfg, pki))

	require.NoError(t, os.Remove(keyFile))
	assert.Equal(t, "first", handshakeCN(t, cfg, pki), "a file missing for a moment keeps the certificate")
}

// tlsProxyToCluster serves a proxy that terminates TLS in front of a
// plain-TCP embedded cluster of two brokers.
func tlsProxyToCluster(t *testing.T, pki *testnet.PKI, auth ClientAuth) (string, *eventLog) {
	t.Helper()
	c := startCluster(t, 2)
	srv := pki.Server(t, "proxy")
	pool := &Pool{Name: "brokers", Balancer: balance.RoundRobin{}}
	pool.SetBackends(backendsFor(c.Addrs()...))
	events := newEventLog()
	addr := startTLSProxy(t, &Proxy{Default: pool, OnConn: events.add}, TLSConfig{
		CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: pki.CAFile, ClientAuth: auth,
		NextProtos: []string{"mqtt"},
	}, nil)
	return addr, events
}

func TestTLSPahoClientsThroughProxyToPlainBrokers(t *testing.T) {
	pki := testnet.NewPKI(t)
	device := pki.Client(t, "device-1")
	addr, events := tlsProxyToCluster(t, pki, ClientAuthOptional)

	t.Run("paho.golang MQTT 5 with a client certificate", func(t *testing.T) {
		received := make(chan *paho.Publish, 1)
		tlsDial := func(t testing.TB) net.Conn {
			conn, err := tls.Dial("tcp", addr, pki.ClientTLSConfig(device.Cert))
			require.NoError(t, err)
			return conn
		}
		// Keep-alive 0: paho.golang v0.23.0 writes a packet as
		// net.Buffers, one Write per piece on a *tls.Conn, and its
		// pinger writes PINGREQ concurrently, so a PINGREQ can land
		// inside a PUBLISH (seen here: "32 07 | c0 00 | 00 01 78 ...")
		// and the broker rightly drops the connection. Over TCP the
		// pieces go out in one writev and cannot interleave.
		dial := func(id string, rec chan<- *paho.Publish) *paho.Client {
			return v5ClientKeepAlive(t, tlsDial, id, rec, 0)
		}
		sub := dial("tls-sub-v5", received)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "tls/v5", QoS: 1}}})
		require.NoError(t, err)
		pub := dial("tls-pub-v5", nil)
		_, err = pub.Publish(ctx, &paho.Publish{Topic: "tls/v5", QoS: 1, Payload: []byte("over TLS")})
		require.NoError(t, err)
		select {
		case m := <-received:
			assert.Equal(t, "over TLS", string(m.Payload))
		case <-time.After(5 * time.Second):
			t.Fatal("message not delivered across the TLS proxy")
		}
	})

	t.Run("paho.mqtt.golang MQTT 3.1.1 without a certificate under verify optional", func(t *testing.T) {
		received := make(chan string, 1)
		client := func(id string) paho311.Client {
			opts := paho311.NewClientOptions().AddBroker("tls://" + addr).SetClientID(id).
				SetTLSConfig(pki.ClientTLSConfig()).SetProtocolVersion(4).SetAutoReconnect(false).
				SetConnectTimeout(5 * time.Second)
			return testnet.Connect311(t, opts)
		}
		sub := client("tls-sub-311")
		tok := sub.Subscribe("tls/311", 1, func(_ paho311.Client, m paho311.Message) { received <- string(m.Payload()) })
		require.True(t, tok.WaitTimeout(5*time.Second))
		require.NoError(t, tok.Error())
		pub := client("tls-pub-311")
		tok = pub.Publish("tls/311", 1, false, "hello 3.1.1")
		require.True(t, tok.WaitTimeout(5*time.Second))
		select {
		case m := <-received:
			assert.Equal(t, "hello 3.1.1", m)
		case <-time.After(5 * time.Second):
			t.Fatal("message not delivered across the TLS proxy")
		}
	})

	testnet.WaitFor(t, 10*time.Second, func() bool { return len(events.all()) >= 4 }, "four connections to end")
	for _, ev := range events.all() {
		assert.NotEqual(t, "refused", ev.End, "%s: %v", ev.ClientID, ev.Err)
	}
}

// tlsConnect dials the proxy over TLS, sends a 3.1.1 CONNECT and returns
// the first bytes answered, or the error that ended the connection.
func tlsConnect(addr string, cfg *tls.Config, id string) ([]byte, error) {
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(connectWire(4, id, 30)); err != nil {
		return nil, err
	}
	buf := make([]byte, 16)
	n, err := conn.Read(buf)
	if n == 0 {
		return nil, err
	}
	return buf[:n], nil
}

func TestTLSVerifyRequiredRefusesClientsWithoutTrustedCertificate(t *testing.T) {
	pki := testnet.NewPKI(t)
	stranger := testnet.NewPKI(t).Client(t, "stranger")
	device := pki.Client(t, "device-2")
	addr, events := tlsProxyToCluster(t, pki, ClientAuthRequired)

	refusals := func() []ConnEvent {
		var out []ConnEvent
		for _, ev := range events.all() {
			if ev.End == "refused" {
				out = append(out, ev)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		alert string // empty: accepted
	}{
		{"certificate from the CA", []tls.Certificate{device.Cert}, ""},
		{"no certificate", nil, "tls: certificate required"},
		{"certificate from another CA", []tls.Certificate{stranger.Cert}, "tls: unknown certificate authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(refusals())
			answer, err := tlsConnect(addr, pki.ClientTLSConfig(tc.certs...), "verify-"+tc.name)
			if tc.alert == "" {
				require.NoError(t, err)
				assert.Equal(t, connackOK311, answer)
				return
			}
			assert.Nil(t, answer, "no MQTT answer over a failed handshake")
			assert.ErrorContains(t, err, tc.alert, "the client learns why from a TLS alert")
			testnet.WaitFor(t, 5*time.Second, func() bool { return len(refusals()) > before }, "the refusal")
			ev := refusals()[before]
			assert.ErrorIs(t, ev.Err, ErrTLSHandshake)
			assert.Equal(t, "tls_handshake", RefusalReason(ev.Err))
		})
	}
}

func TestTLSHandshakeIsBoundedByConnectTimeout(t *testing.T) {
	pki := testnet.NewPKI(t)
	srv := pki.Server(t, "proxy")
	events := newEventLog()
	pool := &Pool{Name: "none"}
	addr := startTLSProxy(t, &Proxy{Default: pool, ConnectTimeout: 300 * time.Millisecond, OnConn: events.add},
		TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile}, nil)

	// A client that opens TCP and never starts the handshake.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == 1 }, "the silent client to be cut")
	ev := events.all()[0]
	assert.ErrorIs(t, ev.Err, ErrConnectTimeout)
	assert.Equal(t, "connect_timeout", RefusalReason(ev.Err))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	assert.Error(t, err, "the proxy closed the connection")
}

func TestTLSClientCertificateReachesBackendInSSLTLV(t *testing.T) {
	pki := testnet.NewPKI(t)
	srv := pki.Server(t, "proxy")
	devices := pki.Client(t, "device-7", "device-7.fleet.example")
	other := pki.Client(t, "gateway-1")
	backend, seen := proxyReadingBackend(t)

	emqx := proxyproto.EMQX
	pool := &Pool{Name: "emqx", ProxyProtocol: &emqx,
		ProxyTLVs: func(ci balance.ConnInfo) []proxyproto.TLV {
			return []proxyproto.TLV{proxyproto.Custom(0xE0, []byte(ci.ClientID))}
		}}
	pool.SetBackends(backendsFor(backend))
	events := newEventLog()
	addr := startTLSProxy(t, &Proxy{
		Routes: []Route{{Name: "devices", Pool: pool, Match: MatcherFunc(func(ci balance.ConnInfo) bool {
			return ClientCertCN("device-7").Match(ci) && ServerName("localhost").Match(ci)
		})}},
		OnConn: events.add,
	}, TLSConfig{CertFile: srv.CertFile, KeyFile: srv.KeyFile, ClientCAFile: pki.CAFile, NextProtos: []string{"mqtt"}}, nil)

	t.Run("routed by CN and SNI; CN, SNI, ALPN and client ID in the header", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, pki.ClientTLSConfig(devices.Cert))
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.Write(connectWire(4, "sensor-7", 30))
		require.NoError(t, err)
		var s seenHeader
		select {
		case s = <-seen:
		case <-time.After(5 * time.Second):
			t.Fatal("the backend got no connection")
		}
		assert.Equal(t, pires.PROXY, s.header.Command)
		assert.Equal(t, conn.LocalAddr().String(), s.header.SourceAddr.String(), "the client's address")
		assert.Equal(t, addr, s.header.DestinationAddr.String(), "the address the client reached")
		require.True(t, s.hasSSL, "SSL TLV")
		cn, ok := s.ssl.ClientCN()
		assert.True(t, ok)
		assert.Equal(t, "device-7", cn, "CN nested in the SSL TLV, where EMQX reads it")
		assert.True(t, s.ssl.ClientSSL())
		assert.True(t, s.ssl.ClientCertConn())
		assert.True(t, s.ssl.Verified())
		version, _ := s.ssl.SSLVersion()
		assert.Equal(t, "TLSv1.3", version)
		assert.Equal(t, "mqtt", string(s.tlv(pires.PP2_TYPE_ALPN)))
		assert.Equal(t, "localhost", string(s.tlv(pires.PP2_TYPE_AUTHORITY)))
		assert.Equal(t, "sensor-7", string(s.tlv(0xE0)))
		assert.Equal(t, connectWire(4, "sensor-7", 30), s.packet, "the CONNECT follows the header unchanged")
		conn.Close()
		testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == 1 }, "the connection to end")
		assert.Equal(t, "devices", events.all()[0].Route)
	})

	t.Run("a CN no route takes is refused", func(t *testing.T) {
		answer, err := tlsConnect(addr, pki.ClientTLSConfig(other.Cert), "gateway")
		require.NoError(t, err)
		assert.Equal(t, []byte{0x20, 2, 0, 0x03}, answer, "server unavailable")
	})

	t.Run("without the SNI the route asks for", func(t *testing.T) {
		// Go sends no SNI for an IP address; the certificate still
		// verifies against its IP SAN.
		cfg := pki.ClientTLSConfig(devices.Cert)
		cfg.ServerName = "127.0.0.1"
		answer, err := tlsConnect(addr, cfg, "no-sni")
		require.NoError(t, err)
		assert.Equal(t, []byte{0x20, 2, 0, 0x03}, answer, "server unavailable")
	})
}

func TestClientTLSFillsConnInfo(t *testing.T) {
	pki := testnet.NewPKI(t)
	srv := pki.Server(t, "proxy")
	device := pki.Issue(t, "rich", x509Template{
		cn: "rich", dns: []string{"rich.example"}, email: []string{"ops@example.com"},
		ip: []net.IP{net.IPv4(10, 0, 0, 9)}, uri: "spiffe://fleet/rich",
	}.build())
	server := &tls.Config{Certificates: []tls.Certificate{srv.Cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pki.Pool}

	for _, tc := range []struct {
		name     string
		certs    []tls.Certificate
		wantCN   string
		wantSANs []string
	}{
		{"verified certificate", []tls.Certificate{device.Cert}, "rich",
			[]string{"rich.example", "10.0.0.9", "ops@example.com", "spiffe://fleet/rich"}},
		{"no certificate", nil, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			go tls.Client(a, pki.ClientTLSConfig(tc.certs...)).Handshake()
			sc := tls.Server(b, server)
			require.NoError(t, sc.Handshake())
			var ci balance.ConnInfo
			cs := clientTLS(sc, &ci)
			require.NotNil(t, cs)
			assert.Equal(t, "localhost", ci.ServerName)
			assert.Equal(t, tc.wantCN, ci.ClientCertCN)
			assert.Equal(t, tc.wantSANs, ci.ClientCertSANs)
			assert.Equal(t, tc.wantCN != "", ClientCertCN("rich").Match(ci))
			assert.Equal(t, tc.wantCN != "", ClientCertSAN("spiffe://fleet/rich").Match(ci))
			assert.False(t, ClientCertSAN("other.example").Match(ci))
		})
	}
	var plain balance.ConnInfo
	assert.Nil(t, clientTLS(&net.TCPConn{}, &plain))
	assert.False(t, ClientCertCN("").Match(plain), "no certificate never matches, not even an empty name")
}

// x509Template is the subject and names of a test certificate.
type x509Template struct {
	cn         string
	dns, email []string
	ip         []net.IP
	uri        string
}

func (x x509Template) build() *x509.Certificate {
	u, _ := url.Parse(x.uri)
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: x.cn}, DNSNames: x.dns, EmailAddresses: x.email,
		IPAddresses: x.ip, URIs: []*url.URL{u},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

func TestBackendTLSReencrypts(t *testing.T) {
	pki := testnet.NewPKI(t)
	brokerCert := pki.Server(t, "broker")
	proxyClient := pki.Client(t, "mqttlb-proxy")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{brokerCert.Cert},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool,
	})
	require.NoError(t, err)
	seen := make(chan string, 1)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		c, _, err := ReadConnect(conn, 5*time.Second, 0)
		if err != nil {
			return
		}
		seen <- c.ClientID + " from " + conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
		c.Release()
		conn.Write(connackOK311)
		conn.Read(make([]byte, 1))
	}()

	dial, err := BackendTLS{CAFile: pki.CAFile, CertFile: proxyClient.CertFile, KeyFile: proxyClient.KeyFile}.DialContext(nil)
	require.NoError(t, err)
	pool := &Pool{Name: "tls-brokers", DialContext: dial}
	pool.SetBackends(backendsFor(ln.Addr().String()))
	addr := startProxy(t, &Proxy{Default: pool})
	_, answer := rawConnect(t, addr, connectWire(4, "reencrypted", 30))
	assert.Equal(t, connackOK311, answer)
	assert.Equal(t, "reencrypted from mqttlb-proxy", <-seen)

	_, err = BackendTLS{CAFile: filepath.Join(pki.Dir, "absent.pem")}.DialContext(nil)
	assert.ErrorIs(t, err, ErrTLSConfig)
}
