//go:build linux

package splice

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is a TCP connection whose socket belongs to one of an Engine's
// event loops from the moment it exists: it is accepted by a listener
// from [Engine.Listener] or dialed by [DialNear], registered once in the
// loop's epoll instance, and read and written through that loop's
// readiness events. Handed to [Engine.Start], it becomes a session of the
// same loop without any further system call: no duplicated descriptor, no
// second registration, no runtime poller to leave.
//
// A Conn is a net.Conn with deadlines, safe for concurrent use like
// *net.TCPConn.
type Conn struct {
	fd     int
	loop   *loop
	remote tcpAddr

	// mu is held shared around every system call on fd and exclusively
	// to close the socket or hand it to a session, so that a descriptor
	// number is never used after it was released.
	mu     sync.RWMutex
	closed bool
	handed bool
	// borrowed: the descriptor belongs to someone else (a listener's,
	// see Listener), so Close only stops using it.
	borrowed bool

	localOnce sync.Once
	local     tcpAddr

	// mayRead is set by the loop on a readable event and cleared before
	// each read; a session made from the Conn starts readable when it is
	// set, so bytes that arrived while nobody read are not missed.
	mayRead atomic.Bool
	// ended is set once the peer's end or an error was reported, by the
	// loop's events or by a read: reads then go on until they see it.
	// failed is set when that was an error. A session made from the Conn
	// starts with both (see flow.inherit).
	ended, failed atomic.Bool
	// rd and wr are the reading and writing sides' events and deadlines.
	rd, wr connSide
	// dead is closed when the Conn is closed or its loop stops.
	deadOnce sync.Once
	dead     chan struct{}
	deadErr  error
}

// connSide is one side of a Conn: the loop's readiness events for it and
// its deadline.
type connSide struct {
	// ready carries the loop's events to a waiting Read or Write
	// (capacity one: an event never blocks the loop).
	ready    chan struct{}
	deadline atomic.Int64 // Unix nanoseconds; 0 = none
	// waiting is set while a Read or Write waits, so that a deadline
	// change wakes it, and only then: a token left in ready by every
	// SetDeadline would cost the next wait a wake-up for nothing.
	waiting atomic.Bool
}

// setDeadline stores the deadline and wakes a waiter to look at it. The
// waiter sets waiting before it loads the deadline, and this stores the
// deadline before it looks at waiting: one of the two sees the other.
func (d *connSide) setDeadline(t time.Time) {
	d.deadline.Store(unixNano(t))
	if d.waiting.Load() {
		poke(d.ready)
	}
}

func (d *connSide) expired() error {
	if dl := d.deadline.Load(); dl != 0 && time.Now().UnixNano() >= dl {
		return os.ErrDeadlineExceeded
	}
	return nil
}

func newConn(fd int, l *loop, remote netip.AddrPort) *Conn {
	return &Conn{
		fd: fd, loop: l, remote: tcpAddr{remote},
		rd: connSide{ready: make(chan struct{}, 1)}, wr: connSide{ready: make(chan struct{}, 1)},
		dead: make(chan struct{}),
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// readable and writable are called by the loop, under its socket lock.
func (c *Conn) readable(ended, failed bool) {
	if failed {
		c.failed.Store(true)
	}
	if ended {
		c.ended.Store(true)
	}
	c.mayRead.Store(true)
	poke(c.rd.ready)
}

func (c *Conn) writable() { poke(c.wr.ready) }

// maybeReadable tells whether bytes or the end may be waiting, as far as
// the loop's events and the Conn's own reads know.
func (c *Conn) maybeReadable() bool {
	return c.mayRead.Load() || c.ended.Load()
}

func (c *Conn) kill(err error) {
	c.deadOnce.Do(func() {
		c.deadErr = err
		close(c.dead)
	})
}

// Read reads from the socket, waiting for the loop's readiness event when
// nothing is there.
//
// A read that fills less than p proves the socket drained at that moment
// (a TCP receive queue is copied out until p is full or the queue is
// empty), and any later arrival is a new event; so after one the next
// Read waits for that event first instead of making a read that would
// find nothing. A dialed Conn waits for its first event too; an accepted
// one reads at once (see Listener.adopt).
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if err := c.rd.expired(); err != nil {
			return 0, c.opError("read", err)
		}
		if !c.mayRead.Load() && !c.ended.Load() {
			if err := c.wait(nil, &c.rd); err != nil {
				return 0, c.opError("read", err)
			}
			continue
		}
		c.mu.RLock()
		if c.closed || c.handed {
			c.mu.RUnlock()
			return 0, c.opError("read", net.ErrClosed)
		}
		c.mayRead.Store(false)
		n, errno := rawRead(c.fd, p)
		c.mu.RUnlock()
		switch errno {
		case 0:
			if n == 0 {
				// The end stays there for a session to see too.
				c.mayRead.Store(true)
				c.ended.Store(true)
				return 0, io.EOF
			}
			if n == len(p) {
				c.mayRead.Store(true) // more may be waiting
			}
			return n, nil
		case syscall.EINTR:
		case syscall.EAGAIN:
			// Nothing after all (an event that was not data): wait for
			// the next one.
			if c.ended.Load() {
				if err := c.wait(nil, &c.rd); err != nil {
					return 0, c.opError("read", err)
				}
			}
		default:
			c.mayRead.Store(true)
			c.failed.Store(true)
			c.ended.Store(true)
			return 0, c.opError("read", os.NewSyscallError("read", errno))
		}
	}
}

// Write writes all of p, waiting for the loop's readiness event while the
// socket's buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		if err := c.wr.expired(); err != nil {
			return written, c.opError("write", err)
		}
		c.mu.RLock()
		if c.closed || c.handed {
			c.mu.RUnlock()
			return written, c.opError("write", net.ErrClosed)
		}
		n, errno := rawWrite(c.fd, p[written:])
		c.mu.RUnlock()
		switch errno {
		case 0:
			written += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			if err := c.wait(nil, &c.wr); err != nil {
				return written, c.opError("write", err)
			}
		default:
			return written, c.opError("write", os.NewSyscallError("write", errno))
		}
	}
	return written, nil
}

// wait blocks until the side has an event or a new deadline, its deadline
// passes, ctx ends or the Conn dies.
func (c *Conn) wait(ctx context.Context, side *connSide) error {
	side.waiting.Store(true)
	defer side.waiting.Store(false)
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	var expired <-chan time.Time
	if d := side.deadline.Load(); d != 0 {
		left := time.Until(time.Unix(0, d))
		if left <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(left)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-side.ready:
		return nil
	case <-c.dead:
		return c.deadErr
	case <-expired:
		return os.ErrDeadlineExceeded
	case <-done:
		return ctx.Err()
	}
}

func (c *Conn) opError(op string, err error) error {
	if err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Addr: &c.remote, Err: err}
}

// Close closes the connection; it has no effect once the Conn was handed
// to a session.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed || c.handed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.loop.forgetConn(c.fd, c)
	if !c.borrowed {
		rawClose(c.fd)
	}
	c.mu.Unlock()
	c.kill(net.ErrClosed)
	return nil
}

// CloseWrite shuts down the writing side of the connection.
func (c *Conn) CloseWrite() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed || c.handed {
		return c.opError("close", net.ErrClosed)
	}
	if errno := rawShutdownWrite(c.fd); errno != 0 {
		return c.opError("close", os.NewSyscallError("shutdown", errno))
	}
	return nil
}

// LocalAddr returns the local address, asking the kernel on first use.
func (c *Conn) LocalAddr() net.Addr {
	c.localOnce.Do(func() {
		c.mu.RLock()
		defer c.mu.RUnlock()
		if c.closed || c.handed {
			return
		}
		c.local.ap = rawLocalAddr(c.fd)
	})
	return &c.local
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return &c.remote }

// tcpAddr is a Conn's address as a net.Addr that costs no allocation: it
// lives in the Conn, and its AddrPort gives the address without parsing
// (which is what the proxy reads).
type tcpAddr struct{ ap netip.AddrPort }

func (a *tcpAddr) Network() string          { return "tcp" }
func (a *tcpAddr) String() string           { return a.ap.String() }
func (a *tcpAddr) AddrPort() netip.AddrPort { return a.ap }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline; a waiting Read sees the change.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rd.setDeadline(t)
	return nil
}

// SetWriteDeadline sets the write deadline; a waiting Write sees the
// change.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wr.setDeadline(t)
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// takeOver hands the socket to a session: the Conn no longer reads,
// writes or closes it.
func (c *Conn) takeOver() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.handed {
		return false
	}
	c.handed = true
	return true
}

// giveBack undoes takeOver when the session could not start.
func (c *Conn) giveBack() {
	c.mu.Lock()
	c.handed = false
	c.mu.Unlock()
}

// addConn registers a new socket with the loop.
func (l *loop) addConn(c *Conn) error {
	l.sockMu.Lock()
	l.setSocketLocked(c.fd, socketEntry{conn: c})
	l.sockMu.Unlock()
	ev := syscall.EpollEvent{Events: socketEvents, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		l.forgetConn(c.fd, c)
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// forgetConn removes c's entry, unless the descriptor already names
// something else.
func (l *loop) forgetConn(fd int, c *Conn) {
	l.sockMu.Lock()
	if fd < len(l.bySocket) && l.bySocket[fd].conn == c {
		l.bySocket[fd] = socketEntry{}
	}
	l.sockMu.Unlock()
}
