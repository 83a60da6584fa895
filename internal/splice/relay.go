package splice

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// smallReadSize is the inline read buffer of a portable relay direction
// whose source cannot be waited on without a buffer (TLS, WebSocket,
// net.Pipe). Most MQTT packets on an idle connection (PINGREQ, PUBACK, small
// PUBLISH) fit, so such a connection parks its reader on these bytes instead
// of on a pooled buffer.
const smallReadSize = 256

// Relay copies bytes both ways between client and backend until both
// directions are done, then closes both connections and returns.
//
// It works for any net.Conn. When the client ends its write side, the
// backend's write side is closed (if the backend supports CloseWrite; if it
// does not, both are closed) and the backend's answer is relayed until the
// backend ends. When the backend ends or fails, what it sent before is
// delivered and both connections are closed. Any error closes both.
// Closing either connection from another goroutine ends the relay promptly.
//
// Relay runs one direction on the calling goroutine and one on a goroutine of
// its own that ends before Relay returns. A *net.TCPConn source is waited on
// without a buffer: a pooled buffer is taken only while bytes move.
func Relay(client, backend net.Conn, cfg Config) Result {
	r := newRelay(client, backend, cfg, new(counters))
	return r.run()
}

// relay is one portable, goroutine-driven relay.
type relay struct {
	client, backend net.Conn
	count           *counters
	up, down        direction
	upDone          sync.WaitGroup

	mu      sync.Mutex
	closing bool
	end     End
	err     error
}

func newRelay(client, backend net.Conn, cfg Config, count *counters) *relay {
	r := &relay{client: client, backend: backend, count: count}
	r.up.init(client, backend, cfg.ClientIdle)
	r.down.init(backend, client, 0)
	return r
}

func (r *relay) run() Result {
	r.upDone.Add(1)
	go r.copyClientToBackend()
	r.copyBackendToClient()
	r.upDone.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return Result{Up: r.count.up.Load(), Down: r.count.down.Load(), End: r.end, Err: r.err}
}

// stop records why the relay ends, unless an earlier event already did, and
// closes both connections, which unblocks the other direction.
func (r *relay) stop(end End, err error) {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return
	}
	r.closing = true
	r.note(end, err)
	r.mu.Unlock()
	r.client.Close()
	r.backend.Close()
}

// note records the end reason and error if none was recorded yet; r.mu held.
func (r *relay) note(end End, err error) {
	if r.end == 0 {
		r.end = end
	}
	if r.err == nil {
		r.err = err
	}
}

// copyClientToBackend and copyBackendToClient are named so that stack
// dumps show which direction a goroutine serves.
func (r *relay) copyClientToBackend() {
	defer r.upDone.Done()
	r.copy(&r.up, r.backend, &r.count.up, EndClientError, EndBackendError, r.clientEOF)
}

func (r *relay) copyBackendToClient() {
	r.copy(&r.down, r.client, &r.count.down, EndBackendError, EndClientError, r.backendEOF)
}

// copy moves bytes from d's source to dst until the source ends (then it
// calls atEOF) or something fails (then it stops the relay).
func (r *relay) copy(d *direction, dst net.Conn, count *atomic.Int64, srcFail, dstFail End, atEOF func()) {
	for {
		p, rerr := d.read()
		if len(p) > 0 {
			_, werr := dst.Write(p)
			d.release()
			if werr != nil {
				r.stop(sideEnd(dstFail, werr), werr)
				return
			}
			count.Add(int64(len(p)))
		}
		switch {
		case rerr == nil:
		case rerr == io.EOF:
			atEOF()
			return
		case rerr == errIdle:
			r.stop(EndIdle, nil)
			return
		default:
			r.stop(sideEnd(srcFail, rerr), rerr)
			return
		}
	}
}

// clientEOF propagates the client's half-close to the backend. A backend
// that cannot half-close is closed: MQTT has no use for a half-open
// connection, and the broker would otherwise wait out its keep-alive.
func (r *relay) clientEOF() {
	r.mu.Lock()
	r.note(EndClientClosed, nil)
	r.mu.Unlock()
	cw, ok := r.backend.(interface{ CloseWrite() error })
	if !ok {
		r.stop(EndClientClosed, nil)
		return
	}
	if err := cw.CloseWrite(); err != nil {
		r.stop(sideEnd(EndBackendError, err), err)
	}
}

// backendEOF ends the relay: MQTT devices must notice a lost broker.
func (r *relay) backendEOF() { r.stop(EndBackendClosed, nil) }

// sideEnd maps an error on one side to an End: a connection closed by its
// owner (not by the relay, whose own closes are never recorded) is a kill.
func sideEnd(side End, err error) End {
	if errors.Is(err, net.ErrClosed) {
		return EndKilled
	}
	return side
}

// errIdle is returned by direction.read when the client was silent for the
// idle timeout. It never leaves the package.
var errIdle = errors.New("splice: client idle")

// direction is the reading half of one relay direction.
type direction struct {
	src net.Conn

	// raw, when set, lets read wait for data without holding a buffer.
	raw    syscall.RawConn
	rawFn  func(fd uintptr) bool
	rawBuf *buffer
	rawN   int
	rawErr error

	// Without raw: small is read into while the source is quiet; after a
	// read fills it, big is used until a read comes back short.
	small  [smallReadSize]byte
	big    *buffer
	useBig bool

	// idle is the source's silence limit, 0 for none. lastRead is when the
	// source last delivered; deadline is the read deadline set on it.
	idle     time.Duration
	lastRead time.Time
	deadline time.Time
}

func (d *direction) init(src, dst net.Conn, idle time.Duration) {
	d.src = src
	d.idle = idle
	d.initRaw()
	if idle > 0 {
		d.lastRead = time.Now()
	}
}

// read returns the next bytes from the source; they are valid until release.
func (d *direction) read() ([]byte, error) {
	for {
		p, err := d.readOnce()
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || d.idle <= 0 {
			if len(p) > 0 && d.idle > 0 {
				d.lastRead = time.Now()
			}
			return p, err
		}
		// The deadline is armed early (see armIdle); only a silence of
		// the whole idle time ends the relay.
		now := time.Now()
		if now.Sub(d.lastRead) >= d.idle {
			return nil, errIdle
		}
		d.deadline = d.lastRead.Add(d.idle)
		if err := d.src.SetReadDeadline(d.deadline); err != nil {
			return nil, err
		}
	}
}

// armIdle sets the read deadline for the idle timeout. It moves the deadline
// only when less than half the idle time is left on it, so a busy client
// costs a clock read per packet, not a timer update.
func (d *direction) armIdle() error {
	if d.idle <= 0 {
		return nil
	}
	if d.deadline.Sub(d.lastRead) >= d.idle/2 {
		return nil
	}
	d.deadline = d.lastRead.Add(d.idle)
	return d.src.SetReadDeadline(d.deadline)
}

func (d *direction) readOnce() ([]byte, error) {
	if err := d.armIdle(); err != nil {
		return nil, err
	}
	if d.raw != nil {
		return d.readRaw()
	}
	if !d.useBig {
		n, err := d.src.Read(d.small[:])
		d.useBig = n == len(d.small)
		return d.small[:n], err
	}
	if d.big == nil {
		d.big = getBuffer()
	}
	n, err := d.src.Read(d.big[:])
	d.useBig = n == len(d.big)
	return d.big[:n], err
}

// release returns the buffer of the last read to the pool unless the source
// seems to have more right away.
func (d *direction) release() {
	if d.rawBuf != nil {
		putBuffer(d.rawBuf)
		d.rawBuf = nil
	}
	if d.big != nil && !d.useBig {
		putBuffer(d.big)
		d.big = nil
	}
}
