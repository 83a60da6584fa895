//go:build linux

package splice

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/mqttlb/mqttlb/internal/faultshim"
)

// bornModes runs every relay test on Conns too.
var bornModes = []mode{{name: "engine/conn", born: true}}

// loopbackListener listens on 127.0.0.1 and closes at the test's end.
func loopbackListener(t testing.TB) *net.TCPListener {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptConn accepts one client of e's listener: the client's end and the
// *Conn.
func acceptConn(t testing.TB, e *Engine) (net.Conn, *Conn) {
	t.Helper()
	ln := e.Listener(loopbackListener(t))
	t.Cleanup(func() { ln.Close() })
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { client.Close() })
	c, err := ln.Accept()
	require.NoError(t, err)
	require.IsType(t, &Conn{}, c)
	return client, c.(*Conn)
}

// dialNear dials a fresh backend listener from near's loop: the *Conn and
// the backend's end.
func dialNear(t testing.TB, near net.Conn) (*Conn, net.Conn) {
	t.Helper()
	ln := loopbackListener(t)
	c, ok, err := DialNear(WithNear(context.Background(), near), ln.Addr().(*net.TCPAddr).AddrPort(), waitBound)
	require.True(t, ok)
	require.NoError(t, err)
	// The handshake's last ACK waits for the first data (see
	// rawDelayHandshakeAck); these tests accept first, so send it now.
	rawSetsockoptInt(c.(*Conn).fd, syscall.IPPROTO_TCP, tcpQuickAck, 1)
	backend, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { backend.Close() })
	return c.(*Conn), backend
}

func bornEnds(t testing.TB, e *Engine) (clientOuter, clientInner, backendInner, backendOuter net.Conn) {
	t.Helper()
	clientOuter, client := acceptConn(t, e)
	backend, backendOuter := dialNear(t, client)
	return clientOuter, client, backend, backendOuter
}

// TestConnHandOverKeepsEveryByte: bytes that wait in either socket when
// the pair is handed to the engine (the client's pipelined packets behind
// the part the proxy read, the backend's CONNACK) all arrive, in order,
// and so do the ends of both sides.
func TestConnHandOverKeepsEveryByte(t *testing.T) {
	for _, readAll := range []bool{false, true} {
		name := map[bool]string{false: "part read", true: "all read"}[readAll]
		t.Run(name, func(t *testing.T) {
			e := &Engine{Loops: 1}
			defer e.Close()
			client, cc := acceptConn(t, e)
			_, err := client.Write([]byte("CONNECT|pipelined"))
			require.NoError(t, err)
			first := make([]byte, 7)
			if readAll {
				first = make([]byte, 64)
			}
			cc.SetReadDeadline(time.Now().Add(waitBound))
			n, err := cc.Read(first)
			require.NoError(t, err)
			first = first[:n]
			bc, backend := dialNear(t, cc)
			_, err = bc.Write(first)
			require.NoError(t, err)
			_, err = backend.Write([]byte("CONNACK"))
			require.NoError(t, err)
			// The CONNACK is in the socket before the hand-over.
			got := make([]byte, len(first))
			_, err = io.ReadFull(backend, got)
			require.NoError(t, err)

			res := make(chan Result, 1)
			e.Start(cc, bc, Config{}, func(r Result) { res <- r })
			_, err = client.Write([]byte("|after"))
			require.NoError(t, err)
			require.NoError(t, client.(*net.TCPConn).CloseWrite())
			backend.SetReadDeadline(time.Now().Add(waitBound))
			rest, err := io.ReadAll(backend)
			require.NoError(t, err)
			assert.Equal(t, "CONNECT|pipelined|after", string(got)+string(rest))

			_, err = backend.Write([]byte("|bye"))
			require.NoError(t, err)
			backend.Close()
			client.SetReadDeadline(time.Now().Add(waitBound))
			down, err := io.ReadAll(client)
			require.NoError(t, err)
			assert.Equal(t, "CONNACK|bye", string(down))
			r := receive(t, res, "the session did not end")
			assert.Equal(t, EndClientClosed, r.End, "the client ended first")
			assert.Equal(t, int64(len("CONNECT|pipelined|after")-len(first)), r.Up, "bytes relayed up by the session")
			assert.Equal(t, int64(len("CONNACK|bye")), r.Down)
		})
	}
}

// TestConnHandOverAfterClientEnd: a client that sent its bytes and its
// end before the hand-over still has both delivered.
func TestConnHandOverAfterClientEnd(t *testing.T) {
	e := &Engine{Loops: 1}
	defer e.Close()
	client, cc := acceptConn(t, e)
	bc, backend := dialNear(t, cc)
	_, err := client.Write([]byte("last words"))
	require.NoError(t, err)
	require.NoError(t, client.(*net.TCPConn).CloseWrite())
	// Let the loop see the data and the end before the session exists.
	require.Eventually(t, func() bool { return cc.ended.Load() }, waitBound, time.Millisecond)
	e.Start(cc, bc, Config{}, func(Result) {})
	backend.SetReadDeadline(time.Now().Add(waitBound))
	got, err := io.ReadAll(backend)
	require.NoError(t, err)
	assert.Equal(t, "last words", string(got))
}

// TestConnAcrossLoops: a client and a backend of different loops make one
// session; the backend's socket moves to the client's loop.
func TestConnAcrossLoops(t *testing.T) {
	e := &Engine{Loops: 2}
	defer e.Close()
	client, cc := acceptConn(t, e)
	ln := loopbackListener(t)
	// DialNear keeps to cc's loop: dial from the other one.
	other := e.loops[0]
	if other == cc.loop {
		other = e.loops[1]
	}
	bc, err := other.dial(context.Background(), ln.Addr().(*net.TCPAddr).AddrPort(), waitBound)
	require.NoError(t, err)
	rawSetsockoptInt(bc.fd, syscall.IPPROTO_TCP, tcpQuickAck, 1)
	backend, err := ln.Accept()
	require.NoError(t, err)
	defer backend.Close()
	require.NotEqual(t, cc.loop, bc.loop)
	near, _, err := DialNear(WithNear(context.Background(), cc), ln.Addr().(*net.TCPAddr).AddrPort(), waitBound)
	require.NoError(t, err)
	assert.Equal(t, cc.loop, near.(*Conn).loop, "DialNear dials into the client's loop")
	near.Close()
	e.Start(cc, bc, Config{}, func(Result) {})
	_, err = client.Write([]byte("ping"))
	require.NoError(t, err)
	got := make([]byte, 4)
	backend.SetReadDeadline(time.Now().Add(waitBound))
	_, err = io.ReadFull(backend, got)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(got))
	_, err = backend.Write([]byte("pong"))
	require.NoError(t, err)
	client.SetReadDeadline(time.Now().Add(waitBound))
	_, err = io.ReadFull(client, got)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(got))
}

// TestConnDeadlineAndClose: a Read past its deadline is a timeout; a Read
// waiting when the Conn is closed returns net.ErrClosed; when the engine
// closes it returns ErrEngineClosed.
func TestConnDeadlineAndClose(t *testing.T) {
	e := &Engine{Loops: 1}
	_, cc := acceptConn(t, e)
	cc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := cc.Read(make([]byte, 8))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)

	cc.SetReadDeadline(time.Time{})
	read := make(chan error, 1)
	go func() { _, err := cc.Read(make([]byte, 8)); read <- err }()
	require.NoError(t, cc.Close())
	assert.ErrorIs(t, <-read, net.ErrClosed)
	_, err = cc.Write([]byte("x"))
	assert.ErrorIs(t, err, net.ErrClosed)

	_, cc2 := acceptConn(t, e)
	go func() { _, err := cc2.Read(make([]byte, 8)); read <- err }()
	require.NoError(t, e.Close())
	assert.ErrorIs(t, <-read, ErrEngineClosed)
	cc2.Close()
}

// TestDialNearRefused: a refused dial is an error naming ECONNREFUSED,
// and a context without a Conn leaves dialing to the caller.
func TestDialNearRefused(t *testing.T) {
	e := &Engine{Loops: 1}
	defer e.Close()
	_, cc := acceptConn(t, e)
	ln := loopbackListener(t)
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	_, ok, err := DialNear(WithNear(context.Background(), cc), addr, waitBound)
	assert.True(t, ok)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)

	_, ok, err = DialNear(context.Background(), addr, waitBound)
	assert.False(t, ok)
	assert.NoError(t, err)
	_, ok, _ = DialNear(WithNear(context.Background(), &net.TCPConn{}), addr, waitBound)
	assert.False(t, ok)
	// A zoned IPv6 address is left to the caller's dial: the raw
	// socket address would lose the zone.
	zoned := netip.AddrPortFrom(netip.MustParseAddr("fe80::1%lo"), 1883)
	_, ok, _ = DialNear(WithNear(context.Background(), cc), zoned, waitBound)
	assert.False(t, ok)
}

// TestListenerClosedByItsOwner: closing the wrapped *net.TCPListener
// directly closes the socket at once and makes a waiting Accept return.
func TestListenerClosedByItsOwner(t *testing.T) {
	e := &Engine{Loops: 1}
	defer e.Close()
	tl := loopbackListener(t)
	ln := e.Listener(tl)
	accepted := make(chan error, 1)
	go func() { _, err := ln.Accept(); accepted <- err }()
	require.NoError(t, tl.Close())
	_, err := net.Dial("tcp", tl.Addr().String())
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "the socket closes with the owner's Close")
	assert.ErrorIs(t, receive(t, accepted, "Accept did not return"), net.ErrClosed)
}

// TestAcceptedConnHasNoDelay: accepted sockets inherit TCP_NODELAY from
// the listener, and Conns, accepted or dialed, report their addresses.
func TestAcceptedConnHasNoDelay(t *testing.T) {
	e := &Engine{Loops: 1}
	defer e.Close()
	client, cc := acceptConn(t, e)
	v, err := syscall.GetsockoptInt(cc.fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	assert.Equal(t, client.LocalAddr().String(), cc.RemoteAddr().String())
	assert.Equal(t, client.RemoteAddr().String(), cc.LocalAddr().String())
	assert.Equal(t, netip.MustParseAddr("127.0.0.1"), cc.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Addr())
	// A dialed Conn asks the kernel for its address.
	bc, backend := dialNear(t, cc)
	assert.Equal(t, backend.RemoteAddr().String(), bc.LocalAddr().String())
	assert.Equal(t, backend.LocalAddr().String(), bc.RemoteAddr().String())
}

// TestConnReadDoesNotAllocate: reading what arrived costs no allocation.
func TestConnReadDoesNotAllocate(t *testing.T) {
	e := &Engine{Loops: 1}
	defer e.Close()
	client, cc := acceptConn(t, e)
	msg, got := make([]byte, 64), make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(cc, got); err != nil {
			t.Fatal(err)
		}
	})
	if !raceEnabled {
		assert.Zero(t, allocs)
	}
}

// TestDialNearTimeout: a connection the peer does not complete (its
// accept queue is full, so the kernel drops the SYN) fails at the
// timeout with a timeout error, and the socket is released.
func TestDialNearTimeout(t *testing.T) {
	e := &Engine{Loops: 1}
	defer e.Close()
	_, cc := acceptConn(t, e)
	addr := netip.MustParseAddrPort(faultshim.Unresponsive(t))
	_, ok, err := DialNear(WithNear(context.Background(), cc), addr, 100*time.Millisecond)
	require.True(t, ok)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "%v", err)
}

// TestConnDeadlineChange: a deadline set while a Read waits wakes it to
// look at the new deadline; one set while nobody waits leaves no wake-up
// behind for the next Read to spend.
func TestConnDeadlineChange(t *testing.T) {
	e := &Engine{Loops: 1}
	defer e.Close()
	_, cc := acceptConn(t, e)
	cc.SetReadDeadline(time.Now().Add(time.Hour))
	cc.SetReadDeadline(time.Time{})
	assert.Empty(t, cc.rd.ready, "a deadline set with no reader waiting leaves no token")

	read := make(chan error, 1)
	go func() { _, err := cc.Read(make([]byte, 8)); read <- err }()
	require.Eventually(t, cc.rd.waiting.Load, waitBound, time.Millisecond)
	cc.SetReadDeadline(time.Now().Add(-time.Second))
	assert.ErrorIs(t, receive(t, read, "the waiting Read did not see its new deadline"), os.ErrDeadlineExceeded)
}

// TestLastBytesCarryTheEnd: the bytes a client sent just before its end
// reach the backend in one segment with the FIN (rawWriteLast), not as
// data and then a FIN of its own; whether the end came while the pair
// was relayed or before the hand-over, when the Conn saw it.
func TestLastBytesCarryTheEnd(t *testing.T) {
	for _, early := range []bool{false, true} {
		name := map[bool]string{false: "while relayed", true: "before the hand-over"}[early]
		t.Run(name, func(t *testing.T) {
			e := &Engine{Loops: 1}
			defer e.Close()
			client, cc := acceptConn(t, e)
			bc, backend := dialNear(t, cc)
			if !early {
				e.Start(cc, bc, Config{}, func(Result) {})
				// A packet through the relay first: once the backend has
				// it, the session has read everything before the end.
				// (A read racing the last packet's arrival may take its
				// bytes before the loop hears of the end; they then go
				// alone, and the end follows in a segment of its own.)
				_, err := client.Write([]byte("PUBLISH|"))
				require.NoError(t, err)
				_, err = io.ReadFull(backend, make([]byte, len("PUBLISH|")))
				require.NoError(t, err)
			}
			before := segmentsIn(t, backend)
			// The client's last packet and its FIN arrive in one segment,
			// as from a client that closes right after its DISCONNECT.
			raw, err := client.(*net.TCPConn).SyscallConn()
			require.NoError(t, err)
			raw.Control(func(fd uintptr) {
				_, errno := rawWriteLast(int(fd), []byte("DISCONNECT"))
				require.Zero(t, errno)
			})
			require.NoError(t, client.(*net.TCPConn).CloseWrite())
			if early {
				require.Eventually(t, cc.ended.Load, waitBound, time.Millisecond)
				e.Start(cc, bc, Config{}, func(Result) {})
			}
			backend.SetReadDeadline(time.Now().Add(waitBound))
			got, err := io.ReadAll(backend)
			require.NoError(t, err)
			assert.Equal(t, "DISCONNECT", string(got))
			assert.Equal(t, uint32(1), segmentsIn(t, backend)-before, "segments from the proxy for the last bytes and the end")
		})
	}
}

// segmentsIn is how many TCP segments c's socket has received.
func segmentsIn(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var info *unix.TCPInfo
	raw.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) })
	require.NoError(t, err)
	return info.Segs_in
}

// TestAcceptedConnReadsAtOnce: an accepted Conn reads the bytes its
// client sent before the accept without waiting for the loop's first
// event, which a busy loop delivers only after its round.
func TestAcceptedConnReadsAtOnce(t *testing.T) {
	e := &Engine{Loops: 1}
	defer e.Close()
	ln := e.Listener(loopbackListener(t))
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer client.Close()
	_, err = client.Write([]byte("CONNECT"))
	require.NoError(t, err)
	c, err := ln.Accept()
	require.NoError(t, err)
	cc := c.(*Conn)
	defer cc.Close()
	// The loop cannot deliver the Conn's events while its socket table
	// is held: a Read that waited for one would time out.
	cc.loop.sockMu.Lock()
	defer cc.loop.sockMu.Unlock()
	cc.SetReadDeadline(time.Now().Add(time.Second))
	got := make([]byte, 16)
	n, err := cc.Read(got)
	require.NoError(t, err, "the Read waited for the loop")
	assert.Equal(t, "CONNECT", string(got[:n]))
}
