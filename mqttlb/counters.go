package mqttlb

import (
	"sync/atomic"
	"time"

	"github.com/mqttlb/mqttlb/balance"
)

// The counters behind Proxy.Stats and Pool.Stats. They are updated on the
// connection path with atomic operations only: no lock, no allocation. A
// connection touches them when it is accepted, routed, placed and when it
// ends, never per byte: byte counts are added when the connection ends, as
// in HAProxy's per-connection log.

// refusalReasons are the names RefusalReason returns, in the order of the
// rejects counters.
var refusalReasons = [...]string{
	"not_mqtt", "malformed", "unsupported_version", "too_large", "connect_timeout",
	"client_closed", "no_backend", "quota_exceeded", "moved", "other",
}

// reasonIndex returns the rejects counter of a RefusalReason name.
func reasonIndex(name string) int {
	for i, r := range refusalReasons {
		if r == name {
			return i
		}
	}
	return len(refusalReasons) - 1
}

// connCounters count the connections through one proxy, route, pool or
// backend.
type connCounters struct {
	current atomic.Int64
	max     atomic.Int64
	total   atomic.Uint64
	rate    rateCounter
	in, out atomic.Uint64 // bytes from and to clients
	rejects [len(refusalReasons)]atomic.Uint64
}

// opened counts a new connection at now (unix nanoseconds).
func (c *connCounters) opened(now int64) {
	n := c.current.Add(1)
	for m := c.max.Load(); n > m && !c.max.CompareAndSwap(m, n); m = c.max.Load() {
	}
	c.total.Add(1)
	c.rate.add(now)
}

// closed counts the end of a connection opened before, with its bytes.
func (c *connCounters) closed(in, out int64) {
	c.current.Add(-1)
	c.in.Add(uint64(max(in, 0)))
	c.out.Add(uint64(max(out, 0)))
}

func (c *connCounters) rejected(reason string) {
	c.rejects[reasonIndex(reason)].Add(1)
}

// snapshot copies the counters; now (unix nanoseconds) dates the rate.
func (c *connCounters) snapshot(now int64) ConnStats {
	s := ConnStats{
		Current: c.current.Load(),
		Max:     c.max.Load(),
		Total:   c.total.Load(),
		Rate:    c.rate.perSecond(now),
		BytesIn: c.in.Load(), BytesOut: c.out.Load(),
	}
	for i := range c.rejects {
		if n := c.rejects[i].Load(); n > 0 {
			if s.Rejects == nil {
				s.Rejects = make(map[string]uint64)
			}
			s.Rejects[refusalReasons[i]] = n
		}
	}
	return s
}

// rateCounter counts events per second, like HAProxy's frequency
// counters: the count of the current second and of the one before, each
// packed with its second (second<<32 | count) into one word so that a
// roll-over is a single compare-and-swap.
type rateCounter struct {
	cur, prev atomic.Uint64
}

const rateCountMask = 1<<32 - 1

func (r *rateCounter) add(now int64) {
	sec := uint64(now/int64(time.Second)) & rateCountMask
	for {
		old := r.cur.Load()
		if old>>32 == sec {
			if r.cur.CompareAndSwap(old, old+1) {
				return
			}
			continue
		}
		if r.cur.CompareAndSwap(old, sec<<32|1) {
			r.prev.Store(old)
			return
		}
	}
}

// perSecond estimates the events of the last second: the current
// second's count plus the previous second's, weighted by the part of it
// that falls in the last second.
func (r *rateCounter) perSecond(now int64) uint64 {
	sec := uint64(now/int64(time.Second)) & rateCountMask
	elapsed := uint64(now % int64(time.Second))
	var cur, prev uint64
	c, p := r.cur.Load(), r.prev.Load()
	switch c >> 32 {
	case sec:
		cur = c & rateCountMask
		if p>>32 == (sec-1)&rateCountMask {
			prev = p & rateCountMask
		}
	case (sec - 1) & rateCountMask:
		prev = c & rateCountMask
	}
	return cur + prev*(uint64(time.Second)-elapsed)/uint64(time.Second)
}

// proxyCounters are a Proxy's counters: its own and one set per route,
// with the routes' counters made on first use (Routes does not change
// after Serve).
type proxyCounters struct {
	all    connCounters
	routes atomic.Pointer[[]routeCounters]
}

type routeCounters struct {
	name string
	connCounters
}

// routeTable returns the routes' counters, making them on first use.
func (p *Proxy) routeTable() []routeCounters {
	if rs := p.stats.routes.Load(); rs != nil {
		return *rs
	}
	routes, _ := p.currentRouting()
	made := make([]routeCounters, len(routes)+1)
	for i, r := range routes {
		made[i].name = r.Name
	}
	made[len(routes)].name = "default"
	if !p.stats.routes.CompareAndSwap(nil, &made) {
		return *p.stats.routes.Load()
	}
	return made
}

// routeCounters returns the counters of the route named name ("default"
// for connections no route matched), nil if there is none.
func (p *Proxy) routeCounters(name string) *connCounters {
	rs := p.routeTable()
	for i := range rs {
		if rs[i].name == name {
			return &rs[i].connCounters
		}
	}
	return nil
}

// countOpened counts a connection just accepted.
func (p *Proxy) countOpened(start time.Time) {
	p.stats.all.opened(start.UnixNano())
}

// countRouted counts a connection routed to the named route.
func (p *Proxy) countRouted(route string, start time.Time) {
	if rc := p.routeCounters(route); rc != nil {
		rc.opened(start.UnixNano())
	}
}

// countEnded counts the end of a connection counted by countOpened (and
// by countRouted when ev.Route is set).
func (p *Proxy) countEnded(ev *ConnEvent) {
	var rc *connCounters
	if ev.Route != "" {
		rc = p.routeCounters(ev.Route)
	}
	p.stats.all.closed(ev.Up, ev.Down)
	if rc != nil {
		rc.closed(ev.Up, ev.Down)
	}
	if ev.End == endRefused {
		reason := RefusalReason(ev.Err)
		p.stats.all.rejected(reason)
		if rc != nil {
			rc.rejected(reason)
		}
	}
}

// endRefused is ConnEvent.End for a refused connection.
const endRefused = "refused"

// memberCounters are a backend's counters in a pool, beyond the active
// and total counts balance.Backend keeps itself.
type memberCounters struct {
	maxActive    atomic.Int64
	rate         rateCounter
	in, out      atomic.Uint64
	dialFailures atomic.Uint64
	checks       atomic.Uint64
	checkFails   atomic.Uint64
	lastCheck    atomic.Pointer[checkResult]
}

// checkResult is the outcome of a backend's last health check.
type checkResult struct {
	at      time.Time
	latency time.Duration
	err     string
}

// poolCounters are a pool's connection counters; Counters holds its
// event counters.
type poolCounters struct {
	conns connCounters
}

// countDialFailure counts a failed dial to b.
func (p *Pool) countDialFailure(b *balance.Backend) {
	if m := p.snapshot().byID[b.ID()]; m != nil && m.backend == b {
		m.stats.dialFailures.Add(1)
	}
}

// countConnected counts u, a connection just made, in the pool and its
// backend, and ties u to the pool for the end of the connection.
func (p *Pool) countConnected(u *Upstream) {
	now := time.Now().UnixNano()
	u.pool = p
	p.stats.conns.opened(now)
	if m := u.member; m != nil {
		n := u.Backend.Active()
		for old := m.stats.maxActive.Load(); n > old && !m.stats.maxActive.CompareAndSwap(old, n); old = m.stats.maxActive.Load() {
		}
		m.stats.rate.add(now)
	}
}

// CountBytes adds the bytes of a connection that has ended to the
// statistics of its pool and backend: in from the client, out to it.
// Proxy calls it for the connections it relays; a caller that uses
// Pool.Dial itself calls it once, when the connection ends.
func (u *Upstream) CountBytes(in, out int64) {
	if u.pool == nil {
		return
	}
	u.pool.stats.conns.in.Add(uint64(max(in, 0)))
	u.pool.stats.conns.out.Add(uint64(max(out, 0)))
	if m := u.member; m != nil {
		m.stats.in.Add(uint64(max(in, 0)))
		m.stats.out.Add(uint64(max(out, 0)))
	}
}

// countReleased counts the end of the connection in its pool.
func (u *Upstream) countReleased() {
	if u.pool != nil {
		u.pool.stats.conns.current.Add(-1)
	}
}
