//go:build linux

package splice

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Listener accepts connections as [Conn]s of an Engine's event loops.
// The listening socket is registered in a loop's epoll instance too, so an
// accepted socket goes straight into a loop without passing through Go's
// runtime poller.
//
// The Listener borrows ln's descriptor rather than duplicating it: closing
// ln itself, as a caller of Serve may, then still closes the socket at
// once. An Accept waiting at that moment notices within closeCheck.
type Listener struct {
	ln     *net.TCPListener
	raw    syscall.RawConn
	lc     *Conn // readiness of the listening socket, from its loop
	engine *Engine
	local  netip.AddrPort // the bound address, when it is not a wildcard
	tick   *time.Ticker

	// accept's results, set inside raw.Control's callback.
	fd   int
	peer netip.AddrPort
	err  syscall.Errno
	call func(uintptr)
}

// closeCheck is how often a waiting Accept checks that ln is still open.
const closeCheck = 200 * time.Millisecond

// Listener wraps ln so that its connections are born in the engine's
// event loops (see [Conn]). It sets TCP_NODELAY on ln, which accepted
// sockets inherit, so that small MQTT packets are not held back by
// Nagle's algorithm. Closing the Listener closes ln. Accept is not safe
// for concurrent use. When ln cannot be taken into a loop, and off Linux,
// Listener returns ln itself.
func (e *Engine) Listener(ln *net.TCPListener) net.Listener {
	raw, err := ln.SyscallConn()
	if err != nil {
		return ln
	}
	fd := -1
	raw.Control(func(sysfd uintptr) {
		fd = int(sysfd)
		rawSetNoDelay(fd)
	})
	lp := e.pickLoop()
	if fd < 0 || lp == nil {
		return ln
	}
	l := &Listener{ln: ln, raw: raw, engine: e, lc: newConn(fd, lp, netip.AddrPort{})}
	l.lc.borrowed = true
	if err := lp.addConn(l.lc); err != nil {
		return ln
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		if ap := a.AddrPort(); !ap.Addr().IsUnspecified() {
			l.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	l.call = l.accept4
	l.tick = time.NewTicker(closeCheck)
	return l
}

func (l *Listener) accept4(fd uintptr) {
	l.fd, l.peer, l.err = rawAccept4(int(fd))
}

// Accept waits for the next connection and returns it as a *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		// Control keeps ln's descriptor from being closed and reused
		// while accept4 runs, and fails once ln is closed.
		if err := l.raw.Control(l.call); err != nil {
			l.Close()
			return nil, l.opError(err)
		}
		switch l.err {
		case 0:
			return l.adopt(l.fd, l.peer)
		case syscall.EAGAIN:
			if err := l.wait(); err != nil {
				return nil, l.opError(err)
			}
		case syscall.ECONNABORTED, syscall.EINTR:
		default:
			return nil, l.opError(os.NewSyscallError("accept4", l.err))
		}
	}
}

// wait blocks until the loop reports a connection, the Listener is
// closed, or a check finds ln closed (Accept then returns ln's error).
func (l *Listener) wait() error {
	select {
	case <-l.lc.rd.ready:
	case <-l.lc.dead:
		return l.lc.deadErr
	case <-l.tick.C:
	}
	return nil
}

// adopt registers an accepted socket with the next loop.
func (l *Listener) adopt(fd int, peer netip.AddrPort) (net.Conn, error) {
	lp := l.engine.pickLoop()
	if lp == nil {
		rawClose(fd)
		return nil, l.opError(ErrEngineClosed)
	}
	c := newConn(fd, lp, peer)
	// The first read tries the socket before waiting for an event: a
	// busy listener's queue holds connections whose client has written
	// its first packet already, and that read saves the round through
	// the loop that the registration's first event would take.
	c.mayRead.Store(true)
	if l.local.IsValid() {
		c.localOnce.Do(func() { c.local.ap = l.local })
	}
	if err := lp.addConn(c); err != nil {
		rawClose(fd)
		return nil, l.opError(err)
	}
	return c, nil
}

func (l *Listener) opError(err error) error {
	return &net.OpError{Op: "accept", Net: "tcp", Addr: l.ln.Addr(), Err: err}
}

// Close closes the listening socket; a waiting Accept returns.
func (l *Listener) Close() error {
	l.tick.Stop()
	l.lc.Close()
	return l.ln.Close()
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

type nearKey struct{}

// WithNear returns a context under which [DialNear] dials into the event
// loop of c, when c is a *Conn; otherwise it returns ctx.
func WithNear(ctx context.Context, c net.Conn) context.Context {
	if sc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, nearKey{}, sc)
	}
	return ctx
}

// DialNear connects to raddr as a *Conn of the event loop that ctx names
// (see [WithNear]), so that the pair later handed to [Engine.Start] lives
// in one loop. The dial fails when ctx ends or, with a positive timeout,
// when the connection is not made within it. DialNear reports false,
// having done nothing, when ctx names no loop, or for an IPv6 address
// with a zone (the loop's raw socket address carries no scope).
func DialNear(ctx context.Context, raddr netip.AddrPort, timeout time.Duration) (net.Conn, bool, error) {
	near, _ := ctx.Value(nearKey{}).(*Conn)
	if near == nil || raddr.Addr().Zone() != "" {
		return nil, false, nil
	}
	c, err := near.loop.dial(ctx, raddr, timeout)
	if err != nil {
		return nil, true, err
	}
	return c, true, nil
}

// dial connects a non-blocking socket to raddr and registers it with the
// loop.
func (l *loop) dial(ctx context.Context, raddr netip.AddrPort, timeout time.Duration) (*Conn, error) {
	raddr = netip.AddrPortFrom(raddr.Addr().Unmap(), raddr.Port())
	opErr := func(call string, err error) error {
		if errno, ok := err.(syscall.Errno); ok {
			err = os.NewSyscallError(call, errno)
		}
		return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(raddr), Err: err}
	}
	family := syscall.AF_INET
	if raddr.Addr().Is6() {
		family = syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, opErr("socket", err)
	}
	rawSetNoDelay(fd)
	rawDelayHandshakeAck(fd)
	errno := rawConnect(fd, raddr)
	if errno == syscall.EINPROGRESS || errno == syscall.EINTR {
		// On loopback the handshake has usually completed inside the
		// first call: a second one says so without waiting for an event.
		errno = rawConnect(fd, raddr)
		if errno == syscall.EISCONN {
			errno = 0
		}
	}
	pending := errno == syscall.EALREADY || errno == syscall.EINPROGRESS
	if errno != 0 && !pending {
		rawClose(fd)
		return nil, opErr("connect", errno)
	}
	c := newConn(fd, l, raddr)
	if err := l.addConn(c); err != nil {
		rawClose(fd)
		return nil, opErr("connect", err)
	}
	if pending && timeout > 0 {
		c.SetWriteDeadline(time.Now().Add(timeout))
		defer c.SetWriteDeadline(time.Time{})
	}
	for pending {
		if err := c.wait(ctx, &c.wr); err != nil {
			c.Close()
			if errors.Is(err, context.DeadlineExceeded) {
				err = os.ErrDeadlineExceeded
			}
			return nil, opErr("connect", err)
		}
		soErr, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if err != nil {
			c.Close()
			return nil, opErr("getsockopt", err)
		}
		switch errno := syscall.Errno(soErr); errno {
		case 0:
			// Writable without an error: connected, unless the wake-up
			// was not the handshake's; connect tells.
			switch errno := rawConnect(fd, raddr); errno {
			case 0, syscall.EISCONN:
				pending = false
			case syscall.EALREADY, syscall.EINPROGRESS, syscall.EINTR:
			default:
				c.Close()
				return nil, opErr("connect", errno)
			}
		case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		default:
			c.Close()
			return nil, opErr("connect", errno)
		}
	}
	return c, nil
}
