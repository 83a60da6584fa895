package proxyproto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testPKI is a CA, a server certificate (RSA 2048 signed by the ECDSA CA)
// and a client certificate with CN "device-42".
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

var loadPKI = sync.OnceValues(func() (*testPKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, key crypto.Signer) (tls.Certificate, error) {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: []string{"broker.example.com"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			return tls.Certificate{}, err
		}
		leaf, err := x509.ParseCertificate(der)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, err
	}
	serverKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	pki := &testPKI{pool: x509.NewCertPool()}
	pki.pool.AddCert(ca)
	if pki.server, err = issue(2, "broker.example.com", x509.ExtKeyUsageServerAuth, serverKey); err != nil {
		return nil, err
	}
	pki.client, err = issue(3, "device-42", x509.ExtKeyUsageClientAuth, clientKey)
	return pki, err
})

func (p *testPKI) serverConfig(auth tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   auth,
		ClientCAs:    p.pool,
		NextProtos:   []string{"mqtt"},
	}
}

func (p *testPKI) clientConfig(withCert bool) *tls.Config {
	cfg := &tls.Config{RootCAs: p.pool, ServerName: "broker.example.com", NextProtos: []string{"mqtt"}}
	if withCert {
		cfg.Certificates = []tls.Certificate{p.client}
	}
	return cfg
}

// handshake runs one TLS handshake over loopback TCP and returns the state
// the server side sees: what this proxy has when it terminates TLS.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) tls.ConnectionState {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	type result struct {
		state tls.ConnectionState
		err   error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		srv := tls.Server(c, serverCfg)
		_ = srv.SetDeadline(time.Now().Add(10 * time.Second))
		err = srv.Handshake()
		done <- result{srv.ConnectionState(), err}
	}()
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", ln.Addr().String(), clientCfg)
	require.NoError(t, err)
	res := <-done
	require.NoError(t, conn.Close())
	require.NoError(t, res.err)
	return res.state
}

func TestSSLInfoFromTLS(t *testing.T) {
	pki, err := loadPKI()
	require.NoError(t, err)
	tls12 := func(cfg *tls.Config) *tls.Config {
		cfg.MaxVersion = tls.VersionTLS12
		cfg.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
		return cfg
	}
	tests := []struct {
		name   string
		server *tls.Config
		client *tls.Config
		want   SSLInfo
	}{
		{
			name:   "TLS 1.2, verified client certificate",
			server: tls12(pki.serverConfig(tls.RequireAndVerifyClientCert)),
			client: pki.clientConfig(true),
			want: SSLInfo{Client: ClientSSL | ClientCertConn | ClientCertSess, Verify: 0,
				Version: "TLSv1.2", Cipher: "ECDHE-RSA-AES128-GCM-SHA256", CN: "device-42"},
		},
		{
			name:   "TLS 1.2, no client certificate",
			server: tls12(pki.serverConfig(tls.NoClientCert)),
			client: pki.clientConfig(false),
			want: SSLInfo{Client: ClientSSL, Verify: VerifyFailed,
				Version: "TLSv1.2", Cipher: "ECDHE-RSA-AES128-GCM-SHA256"},
		},
		{
			name:   "TLS 1.2, client certificate not verified",
			server: tls12(pki.serverConfig(tls.RequireAnyClientCert)),
			client: pki.clientConfig(true),
			want: SSLInfo{Client: ClientSSL | ClientCertConn | ClientCertSess, Verify: VerifyFailed,
				Version: "TLSv1.2", Cipher: "ECDHE-RSA-AES128-GCM-SHA256", CN: "device-42"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := handshake(t, tt.server, tt.client)
			assert.Equal(t, tt.want, SSLInfoFromTLS(&state))
		})
	}

	t.Run("TLS 1.3 keeps IANA cipher names", func(t *testing.T) {
		state := handshake(t, pki.serverConfig(tls.RequireAndVerifyClientCert), pki.clientConfig(true))
		info := SSLInfoFromTLS(&state)
		assert.Equal(t, "TLSv1.3", info.Version)
		assert.Contains(t, []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
			"TLS_CHACHA20_POLY1305_SHA256"}, info.Cipher)
		assert.Equal(t, "device-42", info.CN)
		assert.Equal(t, uint32(0), info.Verify)
	})

	t.Run("resumed session has the certificate but did not send it", func(t *testing.T) {
		server := tls12(pki.serverConfig(tls.RequireAndVerifyClientCert))
		client := pki.clientConfig(true)
		client.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		first := handshake(t, server, client)
		require.False(t, first.DidResume)
		second := handshake(t, server, client)
		require.True(t, second.DidResume, "TLS 1.2 session ticket resumption")
		info := SSLInfoFromTLS(&second)
		assert.Equal(t, ClientSSL|ClientCertSess, info.Client)
		assert.Equal(t, "device-42", info.CN)
	})

	t.Run("nil state", func(t *testing.T) {
		assert.Equal(t, SSLInfo{}, SSLInfoFromTLS(nil))
	})
}

func TestTLSNames(t *testing.T) {
	assert.Equal(t, "TLSv1", tlsVersionName(tls.VersionTLS10))
	assert.Equal(t, "TLSv1.1", tlsVersionName(tls.VersionTLS11))
	assert.Equal(t, "0x0305", tlsVersionName(0x0305))
	assert.Equal(t, "ECDHE-ECDSA-CHACHA20-POLY1305", cipherName(tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256))
	assert.Equal(t, "AES128-SHA", cipherName(tls.TLS_RSA_WITH_AES_128_CBC_SHA))
	assert.Equal(t, "TLS_AES_256_GCM_SHA384", cipherName(tls.TLS_AES_256_GCM_SHA384))
	for _, suite := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		name := cipherName(suite.ID)
		assert.True(t, isASCII([]byte(name)) && name != "", "suite %s", suite.Name)
	}
}

func TestCertAlgorithms(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	require.NoError(t, err)
	edKey, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name         string
		cert         *x509.Certificate
		sigAlg, kAlg string
	}{
		{"RSA signed RSA-SHA256", &x509.Certificate{SignatureAlgorithm: x509.SHA256WithRSA, PublicKey: &rsaKey.PublicKey}, "RSA-SHA256", "RSA1024"},
		{"EC384 signed ecdsa-with-SHA384", &x509.Certificate{SignatureAlgorithm: x509.ECDSAWithSHA384, PublicKey: &p384.PublicKey}, "ecdsa-with-SHA384", "EC384"},
		{"EC521 signed RSASSA-PSS", &x509.Certificate{SignatureAlgorithm: x509.SHA512WithRSAPSS, PublicKey: &p521.PublicKey}, "RSASSA-PSS", "EC521"},
		{"Ed25519 has no key name", &x509.Certificate{SignatureAlgorithm: x509.PureEd25519, PublicKey: edKey}, "ED25519", ""},
		{"unknown signature", &x509.Certificate{SignatureAlgorithm: x509.UnknownSignatureAlgorithm}, "", ""},
		{"nil", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sigAlg, keyAlg := CertAlgorithms(tt.cert)
			assert.Equal(t, tt.sigAlg, sigAlg)
			assert.Equal(t, tt.kAlg, keyAlg)
		})
	}

	pki, err := loadPKI()
	require.NoError(t, err)
	sigAlg, keyAlg := CertAlgorithms(pki.server.Leaf)
	assert.Equal(t, "ecdsa-with-SHA256", sigAlg, "signed by the ECDSA P-256 CA")
	assert.Equal(t, "RSA2048", keyAlg)
}

func TestFirstCommonName(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(9),
		Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidCommonName, Value: "first"},
			{Type: oidCommonName, Value: "second"},
		}},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.Equal(t, "second", cert.Subject.CommonName, "precondition: Go keeps the last CN")
	assert.Equal(t, "first", firstCommonName(cert), "HAProxy sends the first")
	assert.Empty(t, firstCommonName(&x509.Certificate{}))
}
