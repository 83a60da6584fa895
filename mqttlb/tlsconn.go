package mqttlb

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/proxyproto"
)

// ErrTLSHandshake: the client's TLS handshake failed: no certificate under
// "verify required", a certificate the CA does not sign, no common version
// or cipher, or a client that left mid-handshake. Answer: close (TLS has
// sent its alert already). A handshake cut by ConnectTimeout is an
// ErrConnectTimeout instead.
var ErrTLSHandshake = errors.New("mqttlb: TLS handshake failed")

// readHello runs the read step of one connection: the TLS handshake when
// the listener terminates TLS, then ReadConnect, both within one
// ConnectTimeout, so a client that stalls in the handshake holds the proxy
// no longer than one that stalls in its CONNECT.
//
// The caller reads the connection's addresses only after readHello: on a
// listener wrapped by github.com/pires/go-proxyproto the first Read parses
// the incoming PROXY header under this deadline, while an earlier
// RemoteAddr would wait for it under the wrapper's own timeout.
func (p *Proxy) readHello(c net.Conn) (Connect, byte, error) {
	timeout := p.ConnectTimeout
	if tc, ok := c.(*tls.Conn); ok {
		var err error
		if timeout, err = handshakeWithin(tc, timeout); err != nil {
			return Connect{}, 0, err
		}
	}
	return p.readConnect(c, timeout)
}

// handshakeWithin completes tc's handshake within timeout (0 means
// DefaultConnectTimeout, negative no limit) and returns the time left of
// it for the CONNECT. The deadline covers writes too: a client that does
// not read the server's flight cannot hold the handshake.
func handshakeWithin(tc *tls.Conn, timeout time.Duration) (time.Duration, error) {
	if timeout == 0 {
		timeout = DefaultConnectTimeout
	}
	if timeout < 0 {
		return timeout, handshakeError(tc.Handshake())
	}
	deadline := time.Now().Add(timeout)
	if err := tc.SetDeadline(deadline); err != nil {
		return 0, fmt.Errorf("mqttlb: set handshake deadline: %w", err)
	}
	err := tc.Handshake()
	if err != nil {
		return 0, handshakeError(err)
	}
	if err := tc.SetDeadline(time.Time{}); err != nil {
		return 0, fmt.Errorf("mqttlb: clear handshake deadline: %w", err)
	}
	// ReadConnect takes a duration; a deadline already past must still
	// mean "expired", not 0's "default".
	return max(time.Until(deadline), time.Nanosecond), nil
}

func handshakeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: in the TLS handshake: %w", ErrConnectTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrTLSHandshake, err)
}

// clientTLS fills ci's TLS fields from a connection whose TLS this proxy
// terminated and returns its state, or nil for any other connection. The
// certificate's names are taken only from a verified certificate, so
// routing on them is as safe as the CA.
func clientTLS(c net.Conn, ci *balance.ConnInfo) *tls.ConnectionState {
	tc, ok := c.(interface{ ConnectionState() tls.ConnectionState }) // *tls.Conn, wss
	if !ok {
		return nil
	}
	cs := tc.ConnectionState()
	ci.ServerName = cs.ServerName
	if len(cs.VerifiedChains) > 0 {
		// The same CN the SSL TLV carries: the subject's first.
		ci.ClientCertCN = proxyproto.SSLInfoFromTLS(&cs).CN
		ci.ClientCertSANs = certSANs(cs.PeerCertificates[0])
	}
	return &cs
}

// ClientCertCN matches TLS clients whose verified certificate has one of
// the Common Names, compared exactly.
func ClientCertCN(names ...string) Matcher {
	return MatcherFunc(func(ci balance.ConnInfo) bool {
		return ci.ClientCertCN != "" && slices.Contains(names, ci.ClientCertCN)
	})
}

// ClientCertSAN matches TLS clients whose verified certificate has one of
// the subject alternative names (a DNS name, an IP address as
// net.IP.String writes it, an e-mail address or a URI), compared exactly.
func ClientCertSAN(names ...string) Matcher {
	return MatcherFunc(func(ci balance.ConnInfo) bool {
		return slices.ContainsFunc(ci.ClientCertSANs, func(san string) bool { return slices.Contains(names, san) })
	})
}
