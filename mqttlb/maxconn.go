package mqttlb

import (
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// slotPoll is how often a Serve loop waiting for a free connection slot
// checks whether the proxy is shutting down.
const slotPoll = 50 * time.Millisecond

// connSlots counts open connections against a cap (HAProxy's global and
// per-bind "maxconn"). A Serve loop at the cap stops accepting, leaving
// new clients in the kernel's backlog, until a connection ends.
type connSlots struct {
	open atomic.Int64
	// freed is signalled, without blocking, when a connection ends, to
	// wake a Serve loop waiting for a slot.
	freed chan struct{}
}

func newConnSlots() *connSlots { return &connSlots{freed: make(chan struct{}, 1)} }

// tryAcquire takes a slot if fewer than limit are open; limit <= 0 means
// no cap.
func (s *connSlots) tryAcquire(limit int) bool {
	for {
		n := s.open.Load()
		if limit > 0 && n >= int64(limit) {
			return false
		}
		if s.open.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (s *connSlots) release() {
	s.open.Add(-1)
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// acquire waits for a slot until one frees or stop reports true.
func (s *connSlots) acquire(limit int, stop func() bool) bool {
	if s.tryAcquire(limit) {
		return true
	}
	poll := time.NewTicker(slotPoll)
	defer poll.Stop()
	for !stop() {
		if s.tryAcquire(limit) {
			return true
		}
		select {
		case <-s.freed:
		case <-poll.C:
		}
	}
	return false
}

// ServeMaxConn is Serve with a cap on the connections open at once from
// ln (HAProxy's "maxconn" on a bind line): at the cap the proxy stops
// accepting on ln until one of them ends; the clients wait in the
// kernel's backlog. maxConn <= 0 means no cap. The proxy-wide MaxConn
// applies as well.
func (p *Proxy) ServeMaxConn(ln net.Listener, maxConn int) error {
	if maxConn <= 0 {
		return p.serve(ln, nil)
	}
	return p.serve(ln, &listenerLimit{max: maxConn, slots: newConnSlots()})
}

// listenerLimit is one listener's connection cap.
type listenerLimit struct {
	max   int
	slots *connSlots
}

// proxySlots returns the proxy-wide connection counter.
func (p *Proxy) proxySlots() *connSlots {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.slots == nil {
		p.slots = newConnSlots()
	}
	return p.slots
}

// awaitSlots blocks a Serve loop until both the proxy and the listener
// have a free slot, and takes them. It reports false when the proxy shuts
// down first.
func (p *Proxy) awaitSlots(lim *listenerLimit) bool {
	stop := p.inShutdown.Load
	if lim != nil && !lim.slots.acquire(lim.max, stop) {
		return false
	}
	if !p.proxySlots().acquire(p.MaxConn, stop) {
		if lim != nil {
			lim.slots.release()
		}
		return false
	}
	return true
}

// releaseSlots gives back the slots of a connection that has ended.
func (p *Proxy) releaseSlots(lim *listenerLimit) {
	p.proxySlots().release()
	if lim != nil {
		lim.slots.release()
	}
}

// OpenConns returns the number of connections open now: accepted, being
// routed, or relayed.
func (p *Proxy) OpenConns() int64 { return p.proxySlots().open.Load() }

// admitServeConn counts a connection the caller accepted (ServeConn)
// against MaxConn without waiting: over the cap it is refused, and its
// slot is given back when the refusal is reported, like any other.
func (p *Proxy) admitServeConn() error {
	if n := p.proxySlots().open.Add(1); p.MaxConn > 0 && n > int64(p.MaxConn) {
		return fmt.Errorf("%w: %d connections open, MaxConn %d", ErrQuotaExceeded, n-1, p.MaxConn)
	}
	return nil
}
