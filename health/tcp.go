package health

import (
	"context"
	"fmt"
)

// proxyLocalHeader is a complete PROXY protocol version 2 header with the
// LOCAL command, as HAProxy sends it on health checks ("check-send-proxy"):
// the 12-byte signature, version 2 with command LOCAL (0x20), family and
// transport UNSPEC (0x00) and an address length of zero. The receiver must
// use the connection's own addresses (PROXY protocol spec, section 2.2).
// It is written out here rather than built by the project's proxyproto
// package so that health depends on no other package for 16 constant
// bytes; a test checks that proxyproto.LocalHeader encodes the same.
var proxyLocalHeader = [16]byte{
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, // signature "\r\n\r\n\0\r\nQUIT\n"
	0x20,       // version 2, command LOCAL
	0x00,       // AF_UNSPEC, UNSPEC
	0x00, 0x00, // no addresses follow
}

// TCP is a [Checker] that succeeds when a TCP connection to the backend can
// be opened, like HAProxy's plain "check". It then closes the connection
// cleanly without sending anything else. The zero value checks the
// backend's own port. TCP is safe for concurrent use.
type TCP struct {
	// Port is the port to connect to; 0 means the backend's port
	// (HAProxy "port").
	Port int
	// ProxyHeader sends a PROXY protocol v2 LOCAL header before closing,
	// for backends that require one on every connection (HAProxy
	// "check-send-proxy"). The proxyproto package documents which
	// brokers accept one.
	ProxyHeader bool
	// Dialer opens the connection; nil means a zero net.Dialer.
	Dialer Dialer
}

// Check connects to addr (with Port, when set) and closes the connection.
func (t TCP) Check(ctx context.Context, addr string) error {
	target, err := withPort(addr, t.Port)
	if err != nil {
		return err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	conn, release, err := dialProbe(ctx, t.Dialer, target)
	if err != nil {
		return fmt.Errorf("health: tcp check: %w", ioError(ctx, err))
	}
	defer release()
	if t.ProxyHeader {
		if _, err := conn.Write(proxyLocalHeader[:]); err != nil {
			return fmt.Errorf("health: tcp check %s: PROXY header: %w", target, ioError(ctx, err))
		}
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("health: tcp check %s: close: %w", target, err)
	}
	return nil
}
