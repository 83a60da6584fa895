package mqttlb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// ErrWebSocketText is the read error of a WebSocket connection whose peer
// sent a text frame: MQTT travels in binary frames only (MQTT 3.1.1 §6,
// MQTT 5.0 §6: "If a Client or Server receives a WebSocket Frame that is
// not binary, it MUST close the Network Connection" [MQTT-6.0.0-1]).
var ErrWebSocketText = errors.New("mqttlb: websocket text frame; MQTT needs binary frames")

// closeHandshakeTimeout bounds the WebSocket close handshake: a peer that
// does not answer our close frame within it loses the TCP connection.
const closeHandshakeTimeout = time.Second

// wsReadSize is the buffer the reading goroutine takes, from a pool, while
// a message is arriving; between messages it holds none.
const wsReadSize = 16 << 10

var wsReadPool = sync.Pool{New: func() any { b := make([]byte, wsReadSize); return &b }}

// wsConn is one WebSocket connection seen as the byte stream it carries,
// as a net.Conn: MQTT packets may span frames and one frame may hold
// several packets (MQTT 5.0 §6: "a single WebSocket data frame can
// contain multiple or partial MQTT Control Packets"
// [MQTT-6.0.0-2]), so message boundaries are ignored.
//
// Unlike websocket.NetConn, an expired read deadline leaves the
// connection usable, as on a TCP socket: the relay arms the idle deadline
// early and re-arms it on expiry, and a fatal deadline would cut clients
// that were not idle. For that, messages are read by a goroutine of the
// connection (started by the first Read, ended by a read error or by the
// close handshake that Close starts) and handed to Read. Its addresses are those of the underlying TCP (or
// TLS) connection, so logs, ConnInfo and source hashing see the client.
type wsConn struct {
	ws  *websocket.Conn
	raw net.Conn // the connection under the WebSocket, closed to force

	local, remote net.Addr

	readMu    sync.Mutex // serializes Read
	pending   []byte     // bytes handed over and not yet read
	pumpOnce  sync.Once
	pumpDone  chan struct{} // closed when the reading goroutine ends
	data      chan []byte   // the reading goroutine's next bytes
	consumed  chan struct{} // Read has copied all of the last bytes
	readErr   error         // why the reading goroutine ended
	readTimer deadline

	writeDeadline atomic.Pointer[time.Time]

	// failCode, if set, is the close code for a protocol violation seen
	// by the reading goroutine (a text frame); it overrides later ones.
	failCode atomic.Int32

	closeOnce sync.Once
	closing   chan struct{} // closed by Close: reads and writes end
	closed    chan struct{} // closed when the close handshake is over
	closeErr  error         // of the handshake, once closed is closed
	goingAway *atomic.Bool  // set when the listener closes: close with 1001
	pingMu    sync.Mutex    // held by a ping in flight
	pinger    *time.Timer
	pingsOff  bool
}

func newWSConn(ws *websocket.Conn, raw net.Conn, local, remote net.Addr) *wsConn {
	return &wsConn{
		ws: ws, raw: raw, local: local, remote: remote,
		pumpDone: make(chan struct{}),
		data:     make(chan []byte),
		consumed: make(chan struct{}),
		closing:  make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

// Read reads the next bytes of the stream, whatever frames they came in.
// A read deadline that passes returns os.ErrDeadlineExceeded and leaves
// the connection usable.
func (c *wsConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	c.pumpOnce.Do(func() { go c.pumpMessages() })
	if len(c.pending) == 0 {
		expired := c.readTimer.wait()
		select {
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		default:
		}
		select {
		case b := <-c.data:
			c.pending = b
		case <-c.pumpDone:
			return 0, c.readErr
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		case <-c.closing:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 {
		select {
		case c.consumed <- struct{}{}:
		case <-c.closing:
		}
	}
	return n, nil
}

// pumpMessages reads messages and hands their bytes to Read until the
// connection fails or closes.
func (c *wsConn) pumpMessages() {
	defer close(c.pumpDone)
	for {
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			c.readErr = streamError(err)
			return
		}
		if typ != websocket.MessageBinary {
			c.failCode.CompareAndSwap(0, int32(websocket.StatusUnsupportedData))
			c.readErr = ErrWebSocketText
			return
		}
		buf := wsReadPool.Get().(*[]byte)
		for {
			n, err := r.Read(*buf)
			if n > 0 && !c.handOver((*buf)[:n]) {
				// Read may still be copying from buf: leave it to the
				// garbage collector rather than to the pool.
				return
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				wsReadPool.Put(buf)
				c.readErr = streamError(err)
				return
			}
		}
		wsReadPool.Put(buf)
	}
}

// handOver gives b to Read and waits until it has been copied out.
func (c *wsConn) handOver(b []byte) bool {
	select {
	case c.data <- b:
	case <-c.closing:
		c.readErr = net.ErrClosed
		return false
	}
	select {
	case <-c.consumed:
		return true
	case <-c.closing:
		c.readErr = net.ErrClosed
		return false
	}
}

// streamError maps the end of a WebSocket to the end of a byte stream: a
// normal close is io.EOF, as websocket.NetConn does.
func streamError(err error) error {
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		return io.EOF
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return fmt.Errorf("mqttlb: websocket message too big: %w", err)
	}
	return err
}

// Write sends p as one binary message. A write that outlives the write
// deadline closes the connection, as a timed-out TLS write does.
func (c *wsConn) Write(p []byte) (int, error) {
	if isClosed(c.closing) {
		return 0, net.ErrClosed
	}
	ctx := context.Background()
	if d := c.writeDeadline.Load(); d != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, *d)
		defer cancel()
	}
	if err := c.ws.Write(ctx, websocket.MessageBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes with 1000 (normal), or 1001 (going away) once the
// listener is closed, or the code of a protocol violation seen earlier.
//
// Close returns at once: reads and writes end, and the close handshake
// finishes on a goroutine of the connection within closeHandshakeTimeout.
// Waiting for the peer's answer here would make every caller that closes
// connections one after the other (Proxy.Shutdown's paced closes, a
// pool's session shutdown) wait a round trip per client, or the whole
// timeout per dead one. A Proxy waits for the handshake before its
// Shutdown or Close returns (see backgroundCloser).
func (c *wsConn) Close() error {
	code := websocket.StatusNormalClosure
	if c.goingAway != nil && c.goingAway.Load() {
		code = websocket.StatusGoingAway
	}
	c.closeWith(code, "")
	return nil
}

// closeDone is closed when the close handshake is over and the
// connection's goroutines have ended (see backgroundCloser).
func (c *wsConn) closeDone() <-chan struct{} { return c.closed }

// closeRefused closes a connection the proxy refused, with the close code
// that tells a browser why (RFC 6455 §7.4.1, IANA WebSocket close codes):
//   - 1002 protocol error: the stream is not MQTT or breaks the
//     specification where MQTT has no CONNACK to say so;
//   - 1009 message too big: the CONNECT exceeds MaxConnectSize;
//   - 1008 policy violation: no CONNECT before ConnectTimeout;
//   - 1013 try again later: no backend or a quota (after the CONNACK);
//   - 1000 normal closure otherwise.
func (c *wsConn) closeRefused(reason error) error {
	code := websocket.StatusNormalClosure
	switch {
	case errors.Is(reason, ErrNotMQTT), errors.Is(reason, ErrMalformed),
		errors.Is(reason, ErrUnsupportedVersion):
		code = websocket.StatusProtocolError
	case errors.Is(reason, ErrTooLarge):
		code = websocket.StatusMessageTooBig
	case errors.Is(reason, ErrConnectTimeout):
		code = websocket.StatusPolicyViolation
	case errors.Is(reason, ErrNoBackend), errors.Is(reason, ErrQuotaExceeded):
		code = websocket.StatusTryAgainLater
	}
	// The refusal runs on the connection's own goroutine: wait, so that
	// the handshake is over when the refusal is reported.
	<-c.closeWith(code, RefusalReason(reason))
	return c.closeErr
}

// closeWith starts the close handshake with code, unless it was started
// already, and returns a channel closed when the handshake is over and
// the connection's goroutines have ended.
func (c *wsConn) closeWith(code websocket.StatusCode, reason string) <-chan struct{} {
	c.closeOnce.Do(func() {
		if f := c.failCode.Load(); f != 0 {
			code = websocket.StatusCode(f)
		}
		close(c.closing)
		go c.closeHandshake(code, reason)
	})
	return c.closed
}

// closeHandshake sends the close frame, waits for the peer's (at most
// closeHandshakeTimeout: then the TCP connection is closed under it) and
// waits for the reading goroutine and any ping in flight.
func (c *wsConn) closeHandshake(code websocket.StatusCode, reason string) {
	defer close(c.closed)
	force := time.AfterFunc(closeHandshakeTimeout, func() { c.raw.Close() })
	err := c.ws.Close(code, reason)
	force.Stop()
	c.raw.Close()
	c.pumpOnce.Do(func() { close(c.pumpDone) })
	<-c.pumpDone
	c.stopPings()
	c.readTimer.set(time.Time{})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.closeErr = err
	}
}

// startPings sends a WebSocket ping every interval and closes the
// connection when a pong does not come back within the next interval.
// The pings run on timer callbacks, which Close stops and waits for.
func (c *wsConn) startPings(interval time.Duration) {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	c.pinger = time.AfterFunc(interval, func() { c.ping(interval) })
}

func (c *wsConn) ping(interval time.Duration) {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	if c.pingsOff {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), interval)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		// No pong: the peer or the path is gone. Closing the TCP
		// connection ends the relay through its reads.
		c.raw.Close()
		return
	}
	c.pinger.Reset(interval)
}

// stopPings waits for a ping in flight (the connection is closed by
// then, so it fails at once) and stops further ones.
func (c *wsConn) stopPings() {
	c.pingMu.Lock()
	defer c.pingMu.Unlock()
	c.pingsOff = true
	if c.pinger != nil {
		c.pinger.Stop()
	}
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

// ConnectionState returns the TLS state of a wss connection (the zero
// value for ws), so routes on the TLS server name work as for TLS
// clients.
func (c *wsConn) ConnectionState() tls.ConnectionState {
	if tc, ok := c.raw.(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.readTimer.set(t)
	return nil
}

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.writeDeadline.Store(nil)
	} else {
		c.writeDeadline.Store(&t)
	}
	return nil
}

// deadline is a settable point in time with a channel that is closed
// when it passes.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	expired chan struct{} // nil: no deadline set yet
}

// set moves the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		// The timer fired (or is firing) and closed expired: start anew.
		d.expired = nil
	}
	d.timer = nil
	if d.expired == nil || isClosed(d.expired) {
		d.expired = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	wait := time.Until(t)
	if wait <= 0 {
		close(d.expired)
		return
	}
	expired := d.expired
	d.timer = time.AfterFunc(wait, func() { close(expired) })
}

// wait returns the channel closed when the deadline passes (nil, which
// blocks forever, when none is set).
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
