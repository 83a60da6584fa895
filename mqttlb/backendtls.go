package mqttlb

import (
	"context"
	"crypto/tls"
	"net"
)

// BackendTLS is TLS from the proxy to its backends (re-encryption), for
// brokers that accept only TLS or a network the traffic must cross
// encrypted. Its DialContext goes into Pool.DialContext:
//
//	dial, err := mqttlb.BackendTLS{CAFile: "broker-ca.pem"}.DialContext(nil)
//	pool := &mqttlb.Pool{Name: "brokers", DialContext: dial}
//
// Connections to TLS backends are relayed by goroutines: the kernel
// cannot splice through TLS.
type BackendTLS struct {
	// CAFile holds the PEM certificates of the CAs that sign the
	// backends' certificates; empty means the system's roots.
	CAFile string
	// ServerName is the name verified in every backend's certificate and
	// sent as SNI; empty means the host part of the backend's address.
	ServerName string
	// CertFile and KeyFile, if set, are the client certificate the proxy
	// presents to backends that require one. KeyFile empty means the key
	// is in CertFile.
	CertFile, KeyFile string
	// MinVersion is the oldest TLS version accepted; 0 means TLS 1.2.
	MinVersion uint16
}

// ClientConfig returns the configuration for dialing backends.
func (b BackendTLS) ClientConfig() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: b.ServerName, MinVersion: b.MinVersion}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if b.CAFile != "" {
		pool, err := loadCertPool(b.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if b.CertFile != "" {
		keyFile := b.KeyFile
		if keyFile == "" {
			keyFile = b.CertFile
		}
		cert, err := (&certReloader{certFile: b.CertFile, keyFile: keyFile}).read()
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg, nil
}

// DialContext returns a dial function for Pool.DialContext that connects
// with dialer (nil means a zero net.Dialer) and completes the TLS
// handshake within the dial's context, so Pool.DialTimeout bounds both.
func (b BackendTLS) DialContext(dialer *net.Dialer) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	cfg, err := b.ClientConfig()
	if err != nil {
		return nil, err
	}
	d := &tls.Dialer{NetDialer: dialer, Config: cfg}
	return d.DialContext, nil
}
