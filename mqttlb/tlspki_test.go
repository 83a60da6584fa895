package mqttlb

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	pires "github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
)

// testPKI is a certificate authority made for one test, with files in a
// temporary directory for the consumers that read files (TLSConfig,
// mosquitto_pub).
type testPKI struct {
	dir    string
	caFile string
	pool   *x509.CertPool
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial atomic.Int64
}

// issued is a certificate and its key, in memory and in PEM files.
type issued struct {
	cert              tls.Certificate
	certFile, keyFile string
	certPEM, keyPEM   []byte
	leaf              *x509.Certificate
	commonName        string
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mqttlb test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	p := &testPKI{dir: t.TempDir(), ca: ca, caKey: key, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.serial.Store(1)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	require.NoError(t, os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return p
}

// server issues a server certificate for 127.0.0.1 and localhost.
func (p *testPKI) server(t testing.TB, name string) issued {
	return p.issue(t, name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// client issues a client certificate with the CN and the DNS SANs.
func (p *testPKI) client(t testing.TB, cn string, dnsNames ...string) issued {
	return p.issue(t, cn, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    dnsNames,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (p *testPKI) issue(t testing.TB, fileName string, tmpl *x509.Certificate) issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl.SerialNumber = big.NewInt(p.serial.Add(1))
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	out := issued{
		certPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		certFile:   filepath.Join(p.dir, fileName+".pem"),
		keyFile:    filepath.Join(p.dir, fileName+".key"),
		commonName: tmpl.Subject.CommonName,
	}
	out.cert, err = tls.X509KeyPair(out.certPEM, out.keyPEM)
	require.NoError(t, err)
	out.leaf = out.cert.Leaf
	require.NoError(t, os.WriteFile(out.certFile, out.certPEM, 0o600))
	require.NoError(t, os.WriteFile(out.keyFile, out.keyPEM, 0o600))
	return out
}

// clientTLSConfig trusts the test CA and presents the certificates.
func (p *testPKI) clientTLSConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.pool, ServerName: "localhost", Certificates: certs, NextProtos: []string{"mqtt"}}
}

// startTLSProxy serves p on a loopback TLS listener made from cfg, with
// the inbound listener wrapped by wrap when it is not nil.
func startTLSProxy(t testing.TB, p *Proxy, cfg TLSConfig, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	if p.Logger == nil {
		p.Logger = quietLogger()
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	tcfg, err := cfg.ServerConfig()
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var inner net.Listener = ln
	if wrap != nil {
		inner = wrap(ln)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(tls.NewListener(inner, tcfg)) }()
	t.Cleanup(func() {
		p.Close()
		require.ErrorIs(t, <-served, ErrProxyClosed)
	})
	return ln.Addr().String()
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
