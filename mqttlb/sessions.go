package mqttlb

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// DefaultShutdownWindow is how long a Pool spreads the closes of the
// sessions it shuts down on a health change (see
// Pool.ShutdownSessionsOnDown and Pool.ShutdownBackupSessionsOnUp).
const DefaultShutdownWindow = 5 * time.Second

// sessionSet holds the live upstreams of one backend, so that the pool
// can close them when the backend goes down.
type sessionSet struct {
	mu   sync.Mutex
	live map[*Upstream]struct{}
}

func (s *sessionSet) add(u *Upstream) {
	s.mu.Lock()
	if s.live == nil {
		s.live = make(map[*Upstream]struct{})
	}
	s.live[u] = struct{}{}
	s.mu.Unlock()
}

func (s *sessionSet) remove(u *Upstream) {
	s.mu.Lock()
	delete(s.live, u)
	s.mu.Unlock()
}

func (s *sessionSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// closePaced schedules the close of every live session, the i-th (in a
// random order) at about i × window/n from now; see paceOffset. It
// returns the number of sessions scheduled.
func (s *sessionSet) closePaced(window time.Duration) int {
	s.mu.Lock()
	ups := make([]*Upstream, 0, len(s.live))
	for u := range s.live {
		ups = append(ups, u)
	}
	s.mu.Unlock()
	if len(ups) == 0 {
		return 0
	}
	rand.Shuffle(len(ups), func(i, j int) { ups[i], ups[j] = ups[j], ups[i] })
	slot := max(window, 0) / time.Duration(len(ups))
	now := time.Now()
	for i, u := range ups {
		u.closeAt(now.Add(paceOffset(i, slot)))
	}
	return len(ups)
}

// paceOffset is when the i-th of a series of paced closes happens: the
// start of its slot, moved later by a random part of the slot, so that
// the closes are spread evenly without a visible rhythm.
func paceOffset(i int, slot time.Duration) time.Duration {
	return time.Duration(i)*slot + time.Duration(rand.Int64N(int64(slot)+1))
}

// upstreamClose is an Upstream's close state, guarded by mu.
type upstreamClose struct {
	mu       sync.Mutex
	fn       func() // set by SetClose
	timer    *time.Timer
	at       time.Time // when timer fires
	closing  bool      // close requested
	released bool
}

// SetClose gives the function that ends the whole relayed connection,
// such as the relay session's Close: Pool.CloseSessions and the pool's
// health options call it. Without it they close Conn, which ends a relay
// that reads from Conn but not one that took its descriptor over. If a
// close was requested before SetClose, close is called at once.
func (u *Upstream) SetClose(closeFunc func()) {
	u.close.mu.Lock()
	u.close.fn = closeFunc
	closing := u.close.closing && !u.close.released
	u.close.mu.Unlock()
	if closing {
		closeFunc()
	}
}

// closeAt closes the upstream at the given time, or at once when that has
// passed. A close already scheduled earlier stays.
func (u *Upstream) closeAt(at time.Time) {
	d := time.Until(at)
	c := &u.close
	c.mu.Lock()
	if c.released || c.closing || (c.timer != nil && !c.at.After(at)) {
		c.mu.Unlock()
		return
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if d > 0 {
		c.at = at
		c.timer = time.AfterFunc(d, u.closeNow)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	u.closeNow()
}

// closeNow ends the connection, unless it has been released.
func (u *Upstream) closeNow() {
	c := &u.close
	c.mu.Lock()
	if c.released || c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	fn, conn := c.fn, u.Conn
	c.mu.Unlock()
	if fn != nil {
		fn()
		return
	}
	if conn != nil {
		conn.Close()
	}
}

// takeConn returns Conn and forgets it, under the lock closeNow reads it
// under: a relay that owns the connection keeps the Upstream for the
// connection's life, and must not keep the Conn's Go object with it.
func (u *Upstream) takeConn() net.Conn {
	u.close.mu.Lock()
	defer u.close.mu.Unlock()
	c := u.Conn
	u.Conn = nil
	return c
}

// untrack removes the upstream from its backend's live sessions and
// stops a scheduled close: the connection has ended by itself.
func (u *Upstream) untrack() {
	c := &u.close
	c.mu.Lock()
	c.released = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	if u.member != nil {
		u.member.sessions.remove(u)
	}
}

// CloseSessions closes the live connections of the backend with the given
// ID (name, or address when unnamed), spread evenly with jitter over
// window so that their clients reconnect elsewhere in a trickle rather
// than a storm (HAProxy "shutdown sessions server", paced). A window of 0
// or less closes them all before CloseSessions returns.
//
// CloseSessions does not block for the window: each close is a timer,
// stopped when its connection ends earlier, so a closed Proxy leaves no
// timer behind. It returns the number of connections scheduled for
// closing and whether the backend exists. Connections made afterwards are
// not affected: set the backend's state or health first to stop new
// ones.
func (p *Pool) CloseSessions(id string, window time.Duration) (n int, ok bool) {
	p.mu.Lock()
	m := p.memberLocked(id)
	p.mu.Unlock()
	if m == nil {
		return 0, false
	}
	return m.sessions.closePaced(window), true
}

// shutdownWindow is ShutdownWindow with its default applied.
func (p *Pool) shutdownWindow() time.Duration {
	return defaulted(p.ShutdownWindow, DefaultShutdownWindow)
}
