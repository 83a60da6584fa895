package testnet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// PKI is a certificate authority made for one test, with files in a
// temporary directory for the consumers that read files (TLSConfig,
// mosquitto_pub).
type PKI struct {
	Dir    string
	CAFile string
	Pool   *x509.CertPool
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial atomic.Int64
}

// Issued is a certificate and its key, in memory and in PEM files.
type Issued struct {
	Cert              tls.Certificate
	CertFile, KeyFile string
	CertPEM, KeyPEM   []byte
	Leaf              *x509.Certificate
	CommonName        string
}

// NewPKI makes a CA and writes its certificate to CAFile.
func NewPKI(t testing.TB) *PKI {
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
	p := &PKI{Dir: t.TempDir(), ca: ca, caKey: key, Pool: x509.NewCertPool()}
	p.Pool.AddCert(ca)
	p.serial.Store(1)
	p.CAFile = filepath.Join(p.Dir, "ca.pem")
	require.NoError(t, os.WriteFile(p.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return p
}

// Server issues a server certificate for 127.0.0.1 and localhost.
func (p *PKI) Server(t testing.TB, name string) Issued {
	return p.Issue(t, name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// Client issues a client certificate with the CN and the DNS SANs.
func (p *PKI) Client(t testing.TB, cn string, dnsNames ...string) Issued {
	return p.Issue(t, cn, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    dnsNames,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// Issue signs tmpl (its serial, validity and key usage are set here)
// with a fresh P-256 key and writes fileName.pem and fileName.key.
func (p *PKI) Issue(t testing.TB, fileName string, tmpl *x509.Certificate) Issued {
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
	out := Issued{
		CertPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:     pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CertFile:   filepath.Join(p.Dir, fileName+".pem"),
		KeyFile:    filepath.Join(p.Dir, fileName+".key"),
		CommonName: tmpl.Subject.CommonName,
	}
	out.Cert, err = tls.X509KeyPair(out.CertPEM, out.KeyPEM)
	require.NoError(t, err)
	out.Leaf = out.Cert.Leaf
	require.NoError(t, os.WriteFile(out.CertFile, out.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(out.KeyFile, out.KeyPEM, 0o600))
	return out
}

// ClientTLSConfig trusts the test CA and presents the certificates.
func (p *PKI) ClientTLSConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: p.Pool, ServerName: "localhost", Certificates: certs, NextProtos: []string{"mqtt"}}
}
