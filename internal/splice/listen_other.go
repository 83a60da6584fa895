//go:build !linux

package splice

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// Listener returns ln: off Linux there are no event loops for connections
// to be born in.
func (e *Engine) Listener(ln *net.TCPListener) net.Listener { return ln }

// WithNear returns ctx: off Linux there is no event loop to dial into.
func WithNear(ctx context.Context, c net.Conn) context.Context { return ctx }

// DialNear reports false: off Linux the caller dials as usual.
func DialNear(context.Context, netip.AddrPort, time.Duration) (net.Conn, bool, error) {
	return nil, false, nil
}
