package splice

import (
	"net"
	"sync"
	"sync/atomic"
)

// Engine relays many connection pairs with few goroutines. Pairs of kernel
// sockets (*net.TCPConn, *net.UnixConn) on Linux are served by event loops
// over epoll: an idle pair costs no goroutine, no buffer and no pipe, only a
// small record and its two descriptors. Other pairs (TLS, WebSocket,
// net.Pipe, other platforms) are relayed by [Relay] on an engine goroutine.
//
// The zero value is ready to use. The event loops start on the first Start
// that needs them, so an unused Engine costs nothing. Start, Close and the
// Session methods are safe for concurrent use.
type Engine struct {
	// Loops is the number of epoll event loops; 0 means GOMAXPROCS at the
	// first Start. Each loop is one goroutine, parked in the Go netpoller
	// while no connection has work.
	Loops int

	mu       sync.Mutex
	closed   bool
	started  bool
	loops    []*loop
	next     atomic.Uint32
	portable map[*Session]struct{}
	wg       sync.WaitGroup
}

// Session is one pair handed to an Engine.
type Session struct {
	count  counters
	killed atomic.Bool
	rel    *relay // set for pairs relayed by goroutines
	pollSession
}

// Up returns the bytes relayed from client to backend so far.
func (s *Session) Up() int64 { return s.count.up.Load() }

// Down returns the bytes relayed from backend to client so far.
func (s *Session) Down() int64 { return s.count.down.Load() }

// Close ends the session: both connections are closed and its done function
// is called with EndKilled, unless it had already ended. Close does not wait
// for done.
func (s *Session) Close() {
	if !s.killed.CompareAndSwap(false, true) {
		return
	}
	if s.rel != nil {
		s.rel.stop(EndKilled, nil)
		return
	}
	s.kill()
}

// Start relays client and backend like [Relay] and returns at once. done is
// called exactly once, from an engine goroutine, after both connections are
// closed; it must not block, as on Linux it runs on an event loop. After
// Close, Start closes both connections and calls done with EndKilled and
// ErrEngineClosed before it returns.
//
// Kernel socket pairs are taken over: a [Conn] of this engine as it is,
// a *net.TCPConn or *net.UnixConn by duplicating its descriptor and closing
// the net.Conn. Closing them afterwards has no effect; end such a session
// with Session.Close. Other pairs end when either net.Conn is closed, as
// with Relay.
func (e *Engine) Start(client, backend net.Conn, cfg Config, done func(Result)) *Session {
	s := new(Session)
	if e.startPolled(s, client, backend, cfg, done) {
		return s
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		client.Close()
		backend.Close()
		done(Result{End: EndKilled, Err: ErrEngineClosed})
		return s
	}
	if e.portable == nil {
		e.portable = make(map[*Session]struct{})
	}
	e.portable[s] = struct{}{}
	s.rel = newRelay(client, backend, cfg, &s.count)
	e.wg.Add(1)
	e.mu.Unlock()
	go e.relaySession(s, done)
	return s
}

func (e *Engine) relaySession(s *Session, done func(Result)) {
	defer e.wg.Done()
	res := s.rel.run()
	e.mu.Lock()
	delete(e.portable, s)
	e.mu.Unlock()
	done(res)
}

// Close ends every session, waits until each one's done function has
// returned and every engine goroutine has exited, and makes later Starts
// fail. It returns nil; the error is for io.Closer.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	loops := e.loops
	sessions := make([]*Session, 0, len(e.portable))
	for s := range e.portable {
		sessions = append(sessions, s)
	}
	e.mu.Unlock()
	for _, s := range sessions {
		s.Close()
	}
	for _, l := range loops {
		l.stop()
	}
	e.wg.Wait()
	return nil
}
