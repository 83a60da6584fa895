//go:build linux

package splice

import (
	"os"
	"sync/atomic"

	"syscall"
)

type pumpStatus uint8

const (
	pumpIdle      pumpStatus = iota // waiting for readiness
	pumpMore                        // budget used up, still readable
	pumpEOF                         // source ended, everything delivered
	pumpReadFail                    // reading the source failed
	pumpWriteFail                   // writing the destination failed
)

// service moves what the session's sockets allow, in both directions, and
// ends the session when a side ends or fails. It reports whether work is
// left for the next round.
func (l *loop) service(s *Session) bool {
	if s.finished {
		return false
	}
	st, err := l.pump(&s.up, &s.count.up)
	switch st {
	case pumpEOF:
		// [Relay] semantics: the client's half-close goes on to the
		// backend, and the backend's answer is still relayed.
		if s.end == 0 {
			s.end = EndClientClosed
		}
		// A client that has said goodbye is not idle: the backend may
		// take its time to answer.
		if s.heapIndex >= 0 {
			l.timers.remove(int(s.heapIndex))
		}
		if err := rawShutdownWrite(int(s.up.dst)); err != 0 {
			l.finish(s, EndBackendError, os.NewSyscallError("shutdown", err))
			return false
		}
	case pumpReadFail:
		l.finish(s, EndClientError, err)
		return false
	case pumpWriteFail:
		l.finish(s, EndBackendError, err)
		return false
	}
	more := st == pumpMore
	st, err = l.pump(&s.down, &s.count.down)
	switch st {
	case pumpEOF:
		l.finish(s, EndBackendClosed, nil)
		return false
	case pumpReadFail:
		l.finish(s, EndBackendError, err)
		return false
	case pumpWriteFail:
		l.finish(s, EndClientError, err)
		return false
	}
	return more || st == pumpMore
}

// pump moves bytes from f.src to f.dst until one of them would block, the
// source ends, or the round's budget is spent. Bytes are read into the
// loop's scratch buffer and written at once; only when the destination
// pushes back does the flow keep the buffer, and the loop takes a fresh one
// from the pool. A flow with pending bytes does not read, so a slow reader
// applies back-pressure through the kernel instead of through our memory.
func (l *loop) pump(f *flow, count *atomic.Int64) (pumpStatus, error) {
	moved := 0
	status := pumpIdle
	for {
		if f.pending() {
			if !f.writable {
				break
			}
			write := writeFD
			if f.finEnd {
				// The source's end follows these bytes at once.
				write = writeLastFD
			}
			n, err := write(int(f.dst), f.buf[f.off:f.end])
			if err == syscall.EAGAIN {
				f.writable = false
				break
			}
			if err != nil {
				l.dropPending(f)
				return pumpWriteFail, os.NewSyscallError("write", err)
			}
			count.Add(int64(n))
			if f.off += int32(n); f.off < f.end {
				continue
			}
			l.dropPending(f)
		}
		if f.finEnd {
			// Everything before the source's end is delivered.
			f.finEnd, f.eof = false, true
			return pumpEOF, nil
		}
		if f.eof || !f.readable || !f.writable {
			break
		}
		if moved >= roundBudget {
			status = pumpMore
			break
		}
		if l.scratch == nil {
			l.scratch = getBuffer()
		}
		n, err := readFD(int(f.src), l.scratch[:])
		if err == syscall.EAGAIN {
			f.readable = false
			break
		}
		if err != nil {
			return pumpReadFail, os.NewSyscallError("read", err)
		}
		if n == 0 {
			f.eof = true
			return pumpEOF, nil
		}
		moved += n
		f.buf, f.off, f.end = l.scratch, 0, int32(n)
		if n < len(l.scratch) && !f.hup {
			f.readable = false
			f.finEnd = f.fin
		}
	}
	if f.buf != nil && f.buf == l.scratch {
		l.scratch = nil
	}
	return status, nil
}

// dropPending forgets the flow's buffer, returning it to the pool unless it
// is the loop's scratch buffer.
func (l *loop) dropPending(f *flow) {
	if f.buf != l.scratch {
		putBuffer(f.buf)
	}
	f.buf = nil
}

func readFD(fd int, p []byte) (int, error)  { return retryEINTR(rawRead, fd, p) }
func writeFD(fd int, p []byte) (int, error) { return retryEINTR(rawWrite, fd, p) }
func writeLastFD(fd int, p []byte) (int, error) {
	return retryEINTR(rawWriteLast, fd, p)
}

// retryEINTR makes the read or write op until a signal does not
// interrupt it.
func retryEINTR(op func(int, []byte) (int, syscall.Errno), fd int, p []byte) (int, error) {
	for {
		n, errno := op(fd, p)
		switch errno {
		case 0:
			return n, nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}

// finish ends a session once: it closes both sockets, returns its buffers
// and calls done.
func (l *loop) finish(s *Session, end End, err error) {
	if s.finished {
		return
	}
	s.finished = true
	if s.end == 0 {
		s.end = end
	}
	if s.err == nil {
		s.err = err
	}
	for _, fd := range [2]int{int(s.up.src), int(s.up.dst)} {
		// No EPOLL_CTL_DEL: the engine holds the only descriptor of the
		// socket (startPolled closed the originals), so closing it ends
		// the registration, and saves two system calls per session. A
		// fleeting copy in a child between fork and exec keeps the
		// registration until the exec; its events then name a
		// descriptor that is unused or reused, and bring at most a
		// read or write that finds EAGAIN.
		l.sockMu.Lock()
		if fd < len(l.bySocket) {
			l.bySocket[fd] = socketEntry{}
		}
		l.sockMu.Unlock()
		rawClose(fd)
	}
	for _, f := range [2]*flow{&s.up, &s.down} {
		if f.buf != nil {
			l.dropPending(f)
		}
	}
	if s.heapIndex >= 0 {
		l.timers.remove(int(s.heapIndex))
	}
	done := s.done
	s.done = nil
	done(Result{Up: s.count.up.Load(), Down: s.count.down.Load(), End: s.end, Err: s.err})
}

// shutdown kills every session of a stopping loop and releases the loop.
func (l *loop) shutdown() {
	l.sockMu.Lock()
	var sessions []*Session
	for fd, e := range l.bySocket {
		if s := e.session; s != nil && int(s.up.src) == fd {
			sessions = append(sessions, s)
		}
		if e.conn != nil {
			// The Conn's owner still closes it; its waiters learn now
			// that no event will come.
			e.conn.kill(ErrEngineClosed)
		}
	}
	l.sockMu.Unlock()
	for _, s := range sessions {
		l.finish(s, EndKilled, nil)
	}
	l.mu.Lock()
	incoming := l.incoming
	l.incoming = nil
	l.mu.Unlock()
	for _, s := range incoming {
		syscall.Close(int(s.up.src))
		syscall.Close(int(s.up.dst))
		s.done(Result{End: EndKilled, Err: ErrEngineClosed})
	}
	if l.scratch != nil {
		putBuffer(l.scratch)
		l.scratch = nil
	}
	syscall.Close(l.wakefd)
	l.epoll.Close()
}
