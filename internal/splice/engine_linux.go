//go:build linux

package splice

import (
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

const (
	// eventBatch is how many epoll events a loop takes per wait.
	eventBatch = 128
	// roundBudget is how many bytes one direction may move per loop round
	// before the other connections get their turn.
	roundBudget = 256 << 10
	// socketEvents are the events every relayed socket is registered for,
	// once, edge-triggered: the loop remembers readiness itself, so it
	// never has to change a registration.
	socketEvents = syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET
	// epollET is EPOLLET as the unsigned bit the event mask needs (package
	// syscall declares it as a negative int).
	epollET = 1 << 31
)

// pollSession is the event-loop state of a Session, owned by its loop.
type pollSession struct {
	loop     *loop
	up, down flow
	done     func(Result)
	err      error

	// idle is Config.ClientIdle, lastClient when the client last showed
	// data, idleAt when the timer heap next looks at the session; all in
	// nanoseconds on the loop's clock.
	idle, lastClient, idleAt int64
	heapIndex                int32
	queued, finished         bool
	end                      End

	// owned are the Conns whose sockets the loop has registered already,
	// until the loop takes the session in.
	owned [2]*Conn
}

// flow is one direction: bytes read from src are written to dst. The
// readiness flags remember edge-triggered events until a syscall reports
// EAGAIN. buf holds bytes read but not yet written (buf[off:end]); it is set
// only while dst pushes back.
type flow struct {
	src, dst                int32
	readable, writable, eof bool
	// A short read proves the source drained (a later arrival is a new
	// edge), which saves the read that would find EAGAIN. Unless hup:
	// the source reported an error, so reads go on until they see it.
	// fin: the source reported its end, so the short read that drains it
	// is the last (finEnd), which saves the read that would return 0.
	hup, fin, finEnd bool
	buf              *buffer
	off, end         int32
}

func (f *flow) pending() bool { return f.buf != nil }

// inherit starts the flow from what its source Conn, when it was one,
// saw while nobody read: bytes waiting, its end, an error.
func (f *flow) inherit(c *Conn) {
	if c != nil && c.maybeReadable() {
		f.readable, f.fin, f.hup = true, c.ended.Load(), c.failed.Load()
	}
}

// dupSocket duplicates the descriptor of a kernel socket connection, so the
// engine owns a descriptor the Go netpoller does not know.
func dupSocket(c net.Conn) (int, bool) {
	var raw syscall.RawConn
	var err error
	switch c := c.(type) {
	case *net.TCPConn:
		raw, err = c.SyscallConn()
	case *net.UnixConn:
		raw, err = c.SyscallConn()
	default:
		return -1, false
	}
	if err != nil {
		return -1, false
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(sysfd uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, sysfd, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			dupErr = errno
			return
		}
		fd = int(r)
	}); err != nil || dupErr != nil {
		return -1, false
	}
	return fd, true
}

// startPolled hands a kernel socket pair to an event loop. It reports false,
// having changed nothing, when the pair must be relayed by goroutines.
//
// A [Conn] of this engine is taken over as it is: its socket is already
// in a loop, which the session joins. Other descriptors are duplicated
// and their net.Conns closed: the copies are non-blocking (the flag lives
// in the shared open file description) and belong to the engine alone,
// and closing the originals only releases the runtime's poll descriptors
// and the Go objects.
func (e *Engine) startPolled(s *Session, client, backend net.Conn, cfg Config, done func(Result)) bool {
	if !e.pollable(client) || !e.pollable(backend) {
		return false
	}
	var ends [2]polledEnd
	for i, c := range [2]net.Conn{client, backend} {
		end, ok := e.claim(c)
		if !ok {
			if i == 1 {
				ends[0].undo()
			}
			return false
		}
		ends[i] = end
	}
	l := ends[0].loop
	if l == nil {
		l = ends[1].loop
	}
	if l == nil {
		l = e.pickLoop()
	}
	if l == nil {
		ends[0].undo()
		ends[1].undo()
		return false
	}
	for i := range ends {
		ends[i].joinLoop(l)
	}
	for _, end := range ends {
		if end.orig != nil {
			end.orig.Close()
		}
	}
	s.loop = l
	s.done = done
	s.heapIndex = -1
	s.idle = int64(max(cfg.ClientIdle, 0))
	s.owned = [2]*Conn{ends[0].conn, ends[1].conn}
	cfd, bfd := ends[0].fd, ends[1].fd
	s.up = flow{src: int32(cfd), dst: int32(bfd), writable: true}
	s.down = flow{src: int32(bfd), dst: int32(cfd), writable: true}
	l.enqueue(s)
	return true
}

// polledEnd is one side of a pair being handed to a loop: a Conn taken
// over (conn set, loop its loop until joinLoop), or a duplicated
// descriptor of orig.
type polledEnd struct {
	fd   int
	conn *Conn
	loop *loop
	orig net.Conn
}

func (e *Engine) pollable(c net.Conn) bool {
	switch c := c.(type) {
	case *Conn:
		return c.loop.engine == e
	case *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// claim takes c's socket for a session.
func (e *Engine) claim(c net.Conn) (polledEnd, bool) {
	if sc, ok := c.(*Conn); ok {
		if !sc.takeOver() {
			return polledEnd{}, false
		}
		return polledEnd{fd: sc.fd, conn: sc, loop: sc.loop}, true
	}
	fd, ok := dupSocket(c)
	return polledEnd{fd: fd, orig: c}, ok
}

// undo gives a claimed end back.
func (end *polledEnd) undo() {
	switch {
	case end.conn != nil:
		end.conn.giveBack()
	case end.orig != nil:
		syscall.Close(end.fd)
	}
}

// joinLoop moves a Conn of another loop out of that loop's epoll
// instance: the session's loop then registers it like a duplicated
// descriptor.
func (end *polledEnd) joinLoop(l *loop) {
	if end.conn == nil || end.loop == l {
		return
	}
	end.loop.forgetConn(end.fd, end.conn)
	syscall.EpollCtl(end.loop.epfd, syscall.EPOLL_CTL_DEL, end.fd, nil)
	end.conn = nil
	end.loop = l
}

// pickLoop starts the loops on first use and returns the next one, or nil
// when the engine is closed or has no loop.
func (e *Engine) pickLoop() *loop {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	if !e.started {
		e.started = true
		n := e.Loops
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		for range n {
			l, err := newLoop()
			if err != nil {
				break
			}
			l.engine = e
			e.loops = append(e.loops, l)
			e.wg.Add(1)
			go l.run(&e.wg)
		}
	}
	if len(e.loops) == 0 {
		return nil
	}
	return e.loops[int(e.next.Add(1))%len(e.loops)]
}

func (s *Session) kill() { s.loop.enqueueKill(s) }

// loop is one event loop: an epoll instance whose descriptor is itself
// parked in the Go netpoller, so a loop with nothing to do is an ordinary
// parked goroutine and the runtime's timers drive the idle deadlines.
type loop struct {
	engine  *Engine
	epfd    int
	wakefd  int
	epoll   *os.File
	raw     syscall.RawConn
	collect func(fd uintptr) bool
	epoch   time.Time

	// Commands from other goroutines, under mu; woken tells whether the
	// wake descriptor was already written since the loop last looked.
	mu       sync.Mutex
	incoming []*Session
	kills    []*Session
	stopping bool
	woken    bool

	// The rest belongs to the loop goroutine.
	events  [eventBatch]syscall.EpollEvent
	nevents int
	// bySocket names what each descriptor of the loop is: a session's
	// socket, or a Conn not yet handed to a session. Conns are added and
	// removed by other goroutines, so the table is under sockMu; the loop
	// holds it while it dispatches a batch of events.
	sockMu   sync.Mutex
	bySocket []socketEntry
	timers   timerHeap
	ready    []*Session
	// Spare slices swapped with the ones above, so steady state allocates
	// nothing.
	spareReady, spareIncoming, spareKills []*Session
	scratch                               *buffer
	now                                   int64
	armed                                 int64
	wakeBytes                             [8]byte
}

func newLoop() (*loop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := eventfd()
	if err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	l := &loop{epfd: epfd, wakefd: wakefd, epoch: time.Now(), armed: -1}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollET, Fd: int32(wakefd)}
	err = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, wakefd, &ev)
	if err == nil {
		err = syscall.SetNonblock(epfd, true)
	}
	if err == nil {
		l.epoll = os.NewFile(uintptr(epfd), "splice-epoll")
		l.raw, err = l.epoll.SyscallConn()
		if err != nil {
			l.epoll.Close()
			syscall.Close(wakefd)
			return nil, err
		}
	}
	if err != nil {
		syscall.Close(epfd)
		syscall.Close(wakefd)
		return nil, err
	}
	l.collect = l.collectEvents
	return l, nil
}

// eventfd returns a non-blocking eventfd(2) for waking a loop.
func eventfd() (int, error) {
	fd, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// collectEvents runs inside the netpoller's raw read of the epoll
// descriptor: it takes the ready events without blocking, or reports false
// to be parked until the epoll instance has events.
func (l *loop) collectEvents(uintptr) bool {
	l.nevents = rawEpollPoll(l.epfd, l.events[:])
	return l.nevents > 0
}

// enqueue hands a new session to the loop.
func (l *loop) enqueue(s *Session) {
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		syscall.Close(int(s.up.src))
		syscall.Close(int(s.up.dst))
		s.done(Result{End: EndKilled, Err: ErrEngineClosed})
		return
	}
	l.incoming = append(l.incoming, s)
	l.wakeLocked()
}

func (l *loop) enqueueKill(s *Session) {
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		return
	}
	l.kills = append(l.kills, s)
	l.wakeLocked()
}

func (l *loop) stop() {
	l.mu.Lock()
	l.stopping = true
	l.wakeLocked()
}

// wakeLocked unlocks l.mu and makes sure the loop will look at its
// commands.
func (l *loop) wakeLocked() {
	wake := !l.woken
	l.woken = true
	l.mu.Unlock()
	if wake {
		one := [8]byte{1}
		syscall.Write(l.wakefd, one[:])
	}
}

func (l *loop) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		n := l.wait()
		l.now = int64(time.Since(l.epoch))
		l.sockMu.Lock()
		for i := range n {
			l.dispatch(&l.events[i])
		}
		l.sockMu.Unlock()
		stopping := l.commands()
		l.expire()
		l.serviceReady()
		if stopping {
			l.shutdown()
			return
		}
		l.armTimer()
	}
}

// wait returns the number of events collected. With sessions left over
// from the last round it only polls; otherwise it parks, first returning the scratch
// buffer so an idle loop holds none.
func (l *loop) wait() int {
	if len(l.ready) > 0 {
		return rawEpollPoll(l.epfd, l.events[:])
	}
	if l.scratch != nil {
		putBuffer(l.scratch)
		l.scratch = nil
	}
	l.nevents = 0
	if err := l.raw.Read(l.collect); err != nil {
		// The idle deadline passed (the only error a loop that owns its
		// descriptor can see): force re-arming and let expire run.
		l.armed = -1
		return 0
	}
	return l.nevents
}

// socketEntry is one descriptor's owner in a loop: a session or a Conn.
type socketEntry struct {
	session *Session
	conn    *Conn
}

// setSocketLocked records fd's owner, growing the table; l.sockMu is held.
func (l *loop) setSocketLocked(fd int, e socketEntry) {
	if fd >= len(l.bySocket) {
		l.bySocket = append(l.bySocket, make([]socketEntry, fd+1-len(l.bySocket)+len(l.bySocket)/2)...)
	}
	l.bySocket[fd] = e
}

// dispatch records one event; l.sockMu is held.
func (l *loop) dispatch(ev *syscall.EpollEvent) {
	fd := int(ev.Fd)
	if fd == l.wakefd {
		rawRead(l.wakefd, l.wakeBytes[:])
		return
	}
	if fd >= len(l.bySocket) {
		return
	}
	in := ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
	out := ev.Events&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
	hup := ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0
	failed := ev.Events&syscall.EPOLLERR != 0
	if c := l.bySocket[fd].conn; c != nil {
		if in {
			c.readable(hup, failed)
		}
		if out {
			c.writable()
		}
		return
	}
	s := l.bySocket[fd].session
	if s == nil {
		return
	}
	if int32(fd) == s.up.src {
		if in {
			s.up.readable = true
			s.up.hup = s.up.hup || failed
			s.up.fin = s.up.fin || hup
			s.lastClient = l.now
		}
		if out {
			s.down.writable = true
		}
	} else {
		if in {
			s.down.readable = true
			s.down.hup = s.down.hup || failed
			s.down.fin = s.down.fin || hup
		}
		if out {
			s.up.writable = true
		}
	}
	l.schedule(s)
}

func (l *loop) schedule(s *Session) {
	if !s.queued {
		s.queued = true
		l.ready = append(l.ready, s)
	}
}

// commands registers new sessions and applies kills; it reports whether the
// loop must stop.
func (l *loop) commands() bool {
	l.mu.Lock()
	incoming, kills, stopping := l.incoming, l.kills, l.stopping
	l.incoming, l.kills = l.spareIncoming[:0], l.spareKills[:0]
	l.woken = false
	l.mu.Unlock()
	for i, s := range incoming {
		incoming[i] = nil
		l.register(s)
	}
	for i, s := range kills {
		kills[i] = nil
		l.finish(s, EndKilled, nil)
	}
	l.spareIncoming, l.spareKills = incoming[:0], kills[:0]
	return stopping
}

func (l *loop) register(s *Session) {
	cfd, bfd := int(s.up.src), int(s.up.dst)
	l.sockMu.Lock()
	l.setSocketLocked(cfd, socketEntry{session: s})
	l.setSocketLocked(bfd, socketEntry{session: s})
	l.sockMu.Unlock()
	s.lastClient = l.now
	owned := s.owned
	s.owned = [2]*Conn{}
	// A Conn's socket is registered already; what it saw while nobody
	// read is in its flags, and events since then came here. Adding a
	// socket reports its current readiness as a first edge, so bytes that
	// arrived before registration are not missed either way.
	s.up.inherit(owned[0])
	s.down.inherit(owned[1])
	if s.up.readable || s.down.readable {
		l.schedule(s)
	}
	for i, fd := range [2]int{cfd, bfd} {
		if owned[i] != nil {
			continue
		}
		ev := syscall.EpollEvent{Events: socketEvents, Fd: int32(fd)}
		if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
			l.finish(s, EndKilled, os.NewSyscallError("epoll_ctl", err))
			return
		}
	}
	if s.idle > 0 {
		s.idleAt = l.now + s.idle
		l.timers.push(s)
	}
}

// expire ends the sessions whose client has been silent for its idle time.
// A session's timer is not moved on every packet: when it comes due, it is
// pushed back to lastClient+idle if the client spoke meanwhile.
func (l *loop) expire() {
	for len(l.timers) > 0 && l.timers[0].idleAt <= l.now {
		s := l.timers[0]
		if due := s.lastClient + s.idle; due > l.now {
			s.idleAt = due
			l.timers.fix(0)
			continue
		}
		l.finish(s, EndIdle, nil)
	}
}

func (l *loop) armTimer() {
	var want int64
	if len(l.timers) > 0 {
		want = l.timers[0].idleAt
	}
	if want == l.armed {
		return
	}
	l.armed = want
	var t time.Time
	if want != 0 {
		t = l.epoch.Add(time.Duration(want))
	}
	l.epoll.SetReadDeadline(t)
}

// serviceReady gives every session with new readiness its turn. A session
// that used its byte budget with work left is scheduled for the next round,
// which then only polls for new events instead of parking.
func (l *loop) serviceReady() {
	batch := l.ready
	l.ready = l.spareReady[:0]
	for i, s := range batch {
		batch[i] = nil
		s.queued = false
		if l.service(s) {
			l.schedule(s)
		}
	}
	l.spareReady = batch[:0]
}
