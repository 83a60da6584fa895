package mqttlb

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// ErrTLSConfig: a TLSConfig or BackendTLS that cannot work: a missing or
// unreadable file, a key that does not match its certificate, client
// verification without a CA.
var ErrTLSConfig = errors.New("mqttlb: invalid TLS configuration")

// ClientAuth is how a TLS listener treats client certificates, in the
// words of HAProxy's "verify" bind keyword.
type ClientAuth int

const (
	// ClientAuthDefault is ClientAuthRequired when TLSConfig.ClientCAFile
	// is set and ClientAuthNone otherwise, so that naming a CA never
	// silently leaves clients unverified.
	ClientAuthDefault ClientAuth = iota
	// ClientAuthNone asks for no client certificate ("verify none").
	ClientAuthNone
	// ClientAuthOptional asks for a certificate and verifies it against
	// the CA when the client sends one; clients without one are
	// accepted ("verify optional").
	ClientAuthOptional
	// ClientAuthRequired refuses clients without a certificate the CA
	// verifies ("verify required").
	ClientAuthRequired
)

// ParseClientAuth parses HAProxy's verify argument: "none", "optional" or
// "required".
func ParseClientAuth(s string) (ClientAuth, error) {
	switch s {
	case "none":
		return ClientAuthNone, nil
	case "optional":
		return ClientAuthOptional, nil
	case "required":
		return ClientAuthRequired, nil
	}
	return 0, fmt.Errorf("%w: verify %q: want none, optional or required", ErrTLSConfig, s)
}

func (a ClientAuth) String() string {
	switch a {
	case ClientAuthDefault:
		return "default"
	case ClientAuthNone:
		return "none"
	case ClientAuthOptional:
		return "optional"
	case ClientAuthRequired:
		return "required"
	}
	return fmt.Sprintf("ClientAuth(%d)", int(a))
}

// TLSConfig describes a listener that terminates TLS, as HAProxy's
// "bind ... ssl crt FILE ca-file FILE verify required" does. Build the
// *tls.Config with ServerConfig and wrap the listener with it:
//
//	cfg, err := mqttlb.TLSConfig{CertFile: "server.pem", KeyFile: "server.key",
//		ClientCAFile: "ca.pem", ClientAuth: mqttlb.ClientAuthRequired}.ServerConfig()
//	ln, err := net.Listen("tcp", ":8883")
//	err = proxy.Serve(tls.NewListener(ln, cfg))
//
// The Proxy then completes each handshake within its ConnectTimeout and
// gives routing and the PROXY header the SNI, the ALPN protocol and the
// client certificate's names (balance.ConnInfo.ServerName, ClientCertCN,
// ClientCertSANs).
type TLSConfig struct {
	// CertFile holds the server certificate chain in PEM, leaf first.
	// It may also hold the private key, as HAProxy's crt files do.
	CertFile string
	// KeyFile holds the private key in PEM; empty means CertFile.
	KeyFile string
	// ClientCAFile holds the PEM certificates of the CAs that client
	// certificates must chain to. It is read once, by ServerConfig.
	ClientCAFile string
	// ClientAuth says whether clients must present a certificate; the
	// zero value is ClientAuthDefault.
	ClientAuth ClientAuth
	// MinVersion is the oldest TLS version accepted; 0 means TLS 1.2.
	MinVersion uint16
	// NextProtos are the ALPN protocols offered, in order of preference
	// (for MQTT: "mqtt"); the one negotiated is passed on in the PROXY
	// header. nil negotiates none.
	NextProtos []string
	// Logger receives certificate reloads and reload failures; nil means
	// slog.Default().
	Logger *slog.Logger
}

// ServerConfig loads the certificate and the client CAs and returns the
// configuration for tls.NewListener. The certificate is reloaded without
// a restart: every handshake checks the size and modification time of
// CertFile and KeyFile (two stat calls, small beside a handshake) and
// reads them again when either changed. A reload that fails, such as a
// key that no longer matches a certificate written first, is logged and
// the previous certificate stays in use until the files change again.
func (c TLSConfig) ServerConfig() (*tls.Config, error) {
	keyFile := c.KeyFile
	if keyFile == "" {
		keyFile = c.CertFile
	}
	r := &certReloader{certFile: c.CertFile, keyFile: keyFile, log: c.Logger}
	if err := r.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		GetCertificate: r.getCertificate,
		MinVersion:     c.MinVersion,
		NextProtos:     c.NextProtos,
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	auth := c.ClientAuth
	if auth == ClientAuthDefault {
		auth = ClientAuthNone
		if c.ClientCAFile != "" {
			auth = ClientAuthRequired
		}
	}
	switch auth {
	case ClientAuthNone:
		cfg.ClientAuth = tls.NoClientCert
	case ClientAuthOptional:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequired:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("%w: unknown %v", ErrTLSConfig, auth)
	}
	if auth != ClientAuthNone {
		if c.ClientCAFile == "" {
			return nil, fmt.Errorf("%w: verify %v needs a client CA file", ErrTLSConfig, auth)
		}
		pool, err := loadCertPool(c.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
	}
	return cfg, nil
}

// loadCertPool reads PEM CA certificates from a file.
func loadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: no PEM certificate in %s", ErrTLSConfig, file)
	}
	return pool, nil
}

// certReloader serves a certificate from files and reloads it when they
// change. Handshakes read the current certificate without a lock.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu  sync.Mutex // serializes reloads
	cur atomic.Pointer[loadedCert]
}

// loadedCert is a certificate with the stamps of the files it came from,
// and the stamps of the last reload that failed, not retried until the
// files change again.
type loadedCert struct {
	cert          *tls.Certificate
	stamps        fileStamps
	failedStamps  fileStamps
	failedAttempt bool
}

// fileStamps identify a version of the certificate and key files.
type fileStamps struct {
	certMod, certSize, keyMod, keySize int64
}

func (r *certReloader) stat() (fileStamps, error) {
	cs, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamps{}, err
	}
	ks, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamps{}, err
	}
	return fileStamps{cs.ModTime().UnixNano(), cs.Size(), ks.ModTime().UnixNano(), ks.Size()}, nil
}

// load reads the files for the first time.
func (r *certReloader) load() error {
	stamps, err := r.stat()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTLSConfig, err)
	}
	cert, err := r.read()
	if err != nil {
		return err
	}
	r.cur.Store(&loadedCert{cert: cert, stamps: stamps})
	return nil
}

// read parses the certificate chain and key. The stamps are taken before
// reading, so a change in between is seen by the next handshake.
func (r *certReloader) read() (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSConfig, err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTLSConfig, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s, %s: %w", ErrTLSConfig, r.certFile, r.keyFile, err)
	}
	return &cert, nil
}

// getCertificate is the tls.Config hook: the loaded certificate, read
// again first when the files changed.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	cur := r.cur.Load()
	stamps, err := r.stat()
	if err != nil || cur.current(stamps) {
		// A file being replaced may be missing for a moment: keep
		// serving the loaded certificate.
		return cur.cert, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur = r.cur.Load(); cur.current(stamps) {
		return cur.cert, nil
	}
	cert, err := r.read()
	if err != nil {
		r.logger().Warn("TLS certificate reload failed; serving the previous one",
			"cert", r.certFile, "key", r.keyFile, "err", err)
		r.cur.Store(&loadedCert{cert: cur.cert, stamps: cur.stamps, failedStamps: stamps, failedAttempt: true})
		return cur.cert, nil
	}
	r.cur.Store(&loadedCert{cert: cert, stamps: stamps})
	r.logger().Info("TLS certificate reloaded", "cert", r.certFile,
		"subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	return cert, nil
}

// current reports whether the files are the ones loaded, or the ones a
// failed reload already tried.
func (l *loadedCert) current(s fileStamps) bool {
	return s == l.stamps || l.failedAttempt && s == l.failedStamps
}

func (r *certReloader) logger() *slog.Logger {
	if r.log != nil {
		return r.log
	}
	return slog.Default()
}

// certSANs lists a certificate's subject alternative names: DNS names, IP
// addresses, e-mail addresses, then URIs.
func certSANs(cert *x509.Certificate) []string {
	n := len(cert.DNSNames) + len(cert.IPAddresses) + len(cert.EmailAddresses) + len(cert.URIs)
	if n == 0 {
		return nil
	}
	sans := make([]string, 0, n)
	sans = append(sans, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		sans = append(sans, ip.String())
	}
	sans = append(sans, cert.EmailAddresses...)
	for _, u := range cert.URIs {
		sans = append(sans, u.String())
	}
	return sans
}
