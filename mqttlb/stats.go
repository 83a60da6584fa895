package mqttlb

import (
	"time"
)

// Stats is a copy of a proxy's statistics at one moment: the proxy as a
// whole, each route and each pool with its backends. It is the model of
// the stats page, the JSON document and the Prometheus metrics of package
// stats. Counters count from the proxy's (or pool's) first connection.
type Stats struct {
	// Time is when the copy was taken.
	Time   time.Time    `json:"time"`
	Proxy  ConnStats    `json:"proxy"`
	Routes []RouteStats `json:"routes"`
	Pools  []PoolStats  `json:"pools"`
}

// ConnStats count the connections through a proxy, route, pool or
// backend.
type ConnStats struct {
	// Current is the number of connections open now; Max the most open
	// at once.
	Current int64 `json:"current"`
	Max     int64 `json:"max"`
	// Total counts the connections since the start: for a proxy or route
	// every accepted one, refused or not; for a pool or backend every one
	// placed there (a backend also counts dials that failed).
	Total uint64 `json:"total"`
	// Rate is the number of new connections in the last second.
	Rate uint64 `json:"rate"`
	// Rejects counts refused connections by RefusalReason; nil if none.
	// A pool counts the clients it had no backend for ("no_backend").
	Rejects map[string]uint64 `json:"rejects,omitempty"`
	// BytesIn and BytesOut count the bytes from and to the clients of
	// the connections that have ended (the CONNECT included).
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
}

// RouteStats are the statistics of one route; connections no route
// matched are counted under the route "default".
type RouteStats struct {
	Name string `json:"name"`
	ConnStats
}

// PoolStats are the statistics of one pool and its backends.
type PoolStats struct {
	Name string `json:"name"`
	ConnStats
	// The pool's event counters, as Pool.Counters gives them.
	Redispatches       uint64 `json:"redispatches"`
	DialFailures       uint64 `json:"dial_failures"`
	DuplicateClientIDs uint64 `json:"duplicate_client_ids"`
	StickyHits         uint64 `json:"sticky_hits"`
	// StickyEntries is the number of client IDs in the sticky table (the
	// live client IDs when the pool has none).
	StickyEntries int            `json:"sticky_entries"`
	Backends      []BackendStats `json:"backends"`
}

// Backend statuses, as the stats page shows them.
const (
	StatusUp    = "UP"
	StatusDown  = "DOWN"
	StatusDrain = "DRAIN"
	StatusMaint = "MAINT"
)

// BackendStats are the statistics of one backend in a pool.
type BackendStats struct {
	// Name is the backend's ID (Name, or Addr when unnamed).
	Name string `json:"name"`
	Addr string `json:"addr"`
	// Status is StatusMaint or StatusDrain when an operator set it so,
	// else StatusDown when a health source marked it down, else
	// StatusUp. State and Down are what it is made of.
	Status string `json:"status"`
	State  string `json:"state"`
	Down   bool   `json:"down"`
	// DialFailing reports that a dial failed recently and the backend is
	// left out for the pool's FailWindow.
	DialFailing bool `json:"dial_failing"`
	// LastChange is when State or Down last changed; zero if neither
	// has changed since the backend joined the pool.
	LastChange time.Time `json:"last_change,omitzero"`
	// DownReason is the error a health source gave for marking the
	// backend down (see Pool.MarkDown), empty if none.
	DownReason string `json:"down_reason,omitempty"`
	// Sessions is the number of live connections CloseSessions can close.
	Sessions int `json:"sessions"`
	// Weight is the weight the balancer uses; Backup and MaxConn are
	// configuration.
	Weight  int  `json:"weight"`
	Backup  bool `json:"backup"`
	MaxConn int  `json:"max_conn"`
	ConnStats
	DialFailures uint64 `json:"dial_failures"`
	// Checks and CheckFailures count the health checks recorded with
	// Pool.RecordCheck; the last one's time, latency and error (empty
	// when it passed) follow.
	Checks           uint64        `json:"checks"`
	CheckFailures    uint64        `json:"check_failures"`
	LastCheck        time.Time     `json:"last_check,omitzero"`
	LastCheckLatency time.Duration `json:"last_check_latency_ns"`
	LastCheckError   string        `json:"last_check_error,omitempty"`
}

// Stats returns a copy of the proxy's statistics: the proxy, its routes in
// order then "default", and its pools (see Pools). It is safe to call at
// any time, concurrently with connections.
func (p *Proxy) Stats() Stats {
	now := time.Now()
	s := Stats{Time: now, Proxy: p.stats.all.snapshot(now.UnixNano())}
	routes := p.routeTable()
	for i := range routes {
		rc := &routes[i]
		s.Routes = append(s.Routes, RouteStats{Name: rc.name, ConnStats: rc.snapshot(now.UnixNano())})
	}
	for _, pool := range p.Pools() {
		s.Pools = append(s.Pools, pool.Stats())
	}
	return s
}

// Pools returns the pools of the proxy's routes and its default pool,
// each once, in the order of Routes, the default last.
func (p *Proxy) Pools() []*Pool {
	var out []*Pool
	add := func(pool *Pool) {
		for _, seen := range out {
			if seen == pool {
				return
			}
		}
		if pool != nil {
			out = append(out, pool)
		}
	}
	routes, def := p.currentRouting()
	for _, r := range routes {
		add(r.Pool)
	}
	add(def)
	return out
}

// Pool returns the proxy's pool with the given name, nil if none.
func (p *Proxy) Pool(name string) *Pool {
	for _, pool := range p.Pools() {
		if pool.Name == name {
			return pool
		}
	}
	return nil
}

// Stats returns a copy of the pool's statistics, its backends in their
// configured order. It is safe to call at any time.
func (p *Pool) Stats() PoolStats {
	now := time.Now()
	table := p.Sticky
	if table == nil {
		table = &p.liveIDs
	}
	c := p.Counters()
	s := PoolStats{
		Name:               p.Name,
		ConnStats:          p.stats.conns.snapshot(now.UnixNano()),
		Redispatches:       c.Redispatches,
		DialFailures:       c.DialFailures,
		DuplicateClientIDs: c.DuplicateClientIDs,
		StickyHits:         c.StickyHits,
		StickyEntries:      table.Len(),
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s.Backends = make([]BackendStats, 0, len(p.members))
	for _, m := range p.members {
		s.Backends = append(s.Backends, m.statsLocked(now))
	}
	return s
}

// statsLocked copies the member's statistics; the caller holds Pool.mu.
func (m *member) statsLocked(now time.Time) BackendStats {
	b := m.backend
	state, down := State(m.state.Load()), m.down.Load()
	s := BackendStats{
		Name: b.ID(), Addr: b.Addr,
		State: state.String(), Down: down,
		DialFailing: m.failedUntil.Load() > now.UnixNano(),
		LastChange:  m.since,
		Sessions:    m.sessions.len(),
		Weight:      b.EffectiveWeight(), Backup: b.Backup, MaxConn: b.MaxConn,
		ConnStats: ConnStats{
			Current: b.Active(), Max: m.stats.maxActive.Load(), Total: b.Total(),
			Rate:    m.stats.rate.perSecond(now.UnixNano()),
			BytesIn: m.stats.in.Load(), BytesOut: m.stats.out.Load(),
		},
		DialFailures:  m.stats.dialFailures.Load(),
		Checks:        m.stats.checks.Load(),
		CheckFailures: m.stats.checkFails.Load(),
	}
	switch {
	case state == StateMaint:
		s.Status = StatusMaint
	case down:
		s.Status = StatusDown
	case state == StateDrain:
		s.Status = StatusDrain
	default:
		s.Status = StatusUp
	}
	if m.healthErr != nil {
		s.DownReason = m.healthErr.Error()
	}
	if c := m.stats.lastCheck.Load(); c != nil {
		s.LastCheck, s.LastCheckLatency, s.LastCheckError = c.at, c.latency, c.err
	}
	return s
}
