package cluster

import (
	"log/slog"
	"net"
	"sync"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// crashListener is a mochi-mqtt listener whose Close cuts every connection
// at once, without the DISCONNECT packets that mochi's own shutdown sends,
// so that Node.Stop looks to clients like a crashed broker. It also tracks
// every goroutine it starts, so Node.Stop can wait for them all.
type crashListener struct {
	id  string
	ln  net.Listener
	log *slog.Logger

	wg     sync.WaitGroup // the accept loop and one goroutine per connection
	mu     sync.Mutex     // guards conns and closed
	conns  map[net.Conn]struct{}
	closed bool
}

var _ listeners.Listener = (*crashListener)(nil)

func newCrashListener(id string, ln net.Listener) *crashListener {
	return &crashListener{id: id, ln: ln, conns: make(map[net.Conn]struct{})}
}

func (l *crashListener) ID() string       { return l.id }
func (l *crashListener) Address() string  { return l.ln.Addr().String() }
func (l *crashListener) Protocol() string { return l.ln.Addr().Network() }

// Init is called by mochi's AddListener, before Serve is started in a
// goroutine; counting the accept loop here lets wait cover it even if that
// goroutine has not run yet.
func (l *crashListener) Init(log *slog.Logger) error {
	l.log = log
	l.wg.Add(1)
	return nil
}

// Serve accepts connections until Close and hands each to mochi.
func (l *crashListener) Serve(establish listeners.EstablishFn) {
	defer l.wg.Done()
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return
		}
		if !l.track(conn) {
			conn.Close()
			return
		}
		go l.serveConn(establish, conn)
	}
}

func (l *crashListener) track(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.conns[conn] = struct{}{}
	l.wg.Add(1)
	return true
}

func (l *crashListener) serveConn(establish listeners.EstablishFn, conn net.Conn) {
	defer l.wg.Done()
	if err := establish(l.id, conn); err != nil {
		l.log.Debug("mqtt connection ended", "remote", conn.RemoteAddr(), "error", err)
	}
	l.mu.Lock()
	delete(l.conns, conn)
	l.mu.Unlock()
}

// Close closes the listener and every connection. It ignores mochi's
// CloseFn, which would disconnect the clients politely.
func (l *crashListener) Close(listeners.CloseFn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.ln.Close()
	for conn := range l.conns {
		conn.Close()
	}
}

// wait returns when the accept loop and every connection goroutine have
// ended. Call it after Close.
func (l *crashListener) wait() { l.wg.Wait() }
