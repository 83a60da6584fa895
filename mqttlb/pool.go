package mqttlb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/splice"
	"github.com/mqttlb/mqttlb/proxyproto"
	"github.com/mqttlb/mqttlb/sticky"
)

// Pool defaults.
const (
	// DefaultDialTimeout bounds one dial to a backend (HAProxy's
	// "timeout connect").
	DefaultDialTimeout = 5 * time.Second
	// DefaultRetries is how many other backends are tried after a failed
	// dial (HAProxy's "retries" with "option redispatch").
	DefaultRetries = 3
	// DefaultFailWindow is how long a backend that refused a dial is left
	// out of the usable set, so that a burst of clients does not hammer a
	// dead node while its health check has not noticed yet.
	DefaultFailWindow = 2 * time.Second
)

// State is an operator's administrative state of a backend.
type State int32

const (
	// StateReady: the backend takes new connections.
	StateReady State = iota
	// StateDrain: no new connections, except clients stuck to it; live
	// connections stay (HAProxy "set server state drain").
	StateDrain
	// StateMaint: no connections at all; live ones are left to the
	// operator to close (HAProxy "set server state maint").
	StateMaint
)

func (s State) String() string {
	switch s {
	case StateReady:
		return "ready"
	case StateDrain:
		return "drain"
	case StateMaint:
		return "maint"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Pool is a set of backends that serve the same clients, with the
// balancer that spreads new connections over them and the dial policy.
//
// Configure the exported fields before the first use, then add backends
// with SetBackends. A Pool is safe for concurrent use: Pick and Dial read
// an immutable snapshot of the usable backends without locks; health,
// state and membership changes build a new snapshot and swap it in.
type Pool struct {
	// Name identifies the pool in logs and statistics.
	Name string
	// Balancer spreads new connections over the usable backends. nil
	// means balance.LeastConn, the fit for long-lived MQTT sessions.
	Balancer balance.Balancer
	// AllBackups sends connections to every backup backend when no
	// regular backend is usable, instead of the first backup only
	// (HAProxy "option allbackups").
	AllBackups bool
	// DialTimeout bounds each dial; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// Retries is how many further backends are tried after a failed
	// dial, each picked anew without the ones that failed; 0 means
	// DefaultRetries, negative means none.
	Retries int
	// FailWindow is how long a backend whose dial failed stays out of the
	// usable set; 0 means DefaultFailWindow, negative means never.
	FailWindow time.Duration
	// DialContext opens a connection to a backend, as in http.Transport:
	// set it to dial from a chosen source address, through a tunnel, or
	// with TLS to the backend; SourceAddrs.DialContext spreads dials over
	// source addresses and ports. nil means a plain TCP dial without
	// keep-alive probes.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Sticky, if set, keeps each client ID on the backend that holds its
	// session: a reconnecting client goes back there while the backend
	// is usable, or in drain (HAProxy "stick on" with a stick table).
	// nil means no stickiness across reconnects. Either way, a second
	// live connection with a client ID that is already connected goes to
	// the same backend, where the broker takes the session over.
	Sticky *sticky.Table
	// ProxyProtocol, if set, sends every backend connection a PROXY
	// protocol header, in the same write as the client's CONNECT: the
	// options of HAProxy's send-proxy, send-proxy-v2, send-proxy-v2-ssl,
	// send-proxy-v2-ssl-cn and proxy-v2-options (see proxyproto.Options
	// and its per-broker presets proxyproto.EMQX, HiveMQ, Mosquitto). nil
	// sends none. A health checker reaching the same listener sends LOCAL
	// (health.MQTTPing{ProxyHeader: true}, HAProxy's check-send-proxy).
	ProxyProtocol *proxyproto.Options
	// ProxyTLVs, if set, gives TLVs to add to each connection's v2 header
	// after the ones ProxyProtocol selects, such as the client ID in a
	// custom TLV: proxyproto.Custom(0xE0, []byte(ci.ClientID)). It is
	// called once per connection, concurrently; v1 headers carry no TLVs.
	ProxyTLVs func(ci balance.ConnInfo) []proxyproto.TLV
	// Logger receives dial failures and duplicate client IDs; nil means
	// slog.Default().
	Logger *slog.Logger
	// ShutdownSessionsOnDown closes the live connections of a backend
	// when a health source marks it down (HAProxy "on-marked-down
	// shutdown-sessions"), spread over ShutdownWindow, so that its
	// clients reconnect to a healthy backend instead of waiting on a node
	// that may hang. Off by default: a node failing its checks keeps the
	// clients it still serves.
	ShutdownSessionsOnDown bool
	// ShutdownBackupSessionsOnUp closes the live connections on backup
	// backends when a regular backend in StateReady is marked up again
	// (HAProxy "on-marked-up shutdown-backup-sessions"), spread over
	// ShutdownWindow, so that clients return to the regular backends.
	ShutdownBackupSessionsOnUp bool
	// ShutdownWindow spreads the closes of the two options above, with
	// jitter; 0 means DefaultShutdownWindow, negative closes them all at
	// once.
	ShutdownWindow time.Duration
	// QueueTimeout is how long a connection waits for a free slot when
	// every usable backend is at its MaxConn (HAProxy's "timeout
	// queue"); then it is refused with "server unavailable". 0 means
	// DefaultQueueTimeout, negative means no queue.
	QueueTimeout time.Duration
	// MaxQueue bounds the connections waiting at once; 0 means
	// DefaultMaxQueue. A connection that finds the queue full is refused.
	MaxQueue int
	// ConnackTimeout, if positive, makes the proxy read the backend's
	// first packet (the CONNACK) itself before relaying: a backend that
	// accepts the TCP connection but sends nothing within ConnackTimeout
	// after the CONNECT is left out for the fail window and the client is
	// redispatched, since nothing has reached the client yet. 0 or
	// negative means off: the relay starts right after the CONNECT.
	ConnackTimeout time.Duration

	mu      sync.Mutex // serializes snapshot rebuilds
	members []*member
	snap    atomic.Pointer[poolSnapshot]

	// liveIDs tracks the client IDs connected now when Sticky is nil, to
	// send duplicates to the same backend.
	liveIDs sticky.Table

	queue slotQueue // connections waiting for a backend below its MaxConn

	redispatches, dialFailures, duplicates, stickyHits atomic.Uint64
	stats                                              poolCounters
}

// member is a backend with the state the pool keeps for it.
type member struct {
	backend     *balance.Backend
	state       atomic.Int32 // State
	down        atomic.Bool  // marked down by a health source
	failedUntil atomic.Int64 // unix nanoseconds; dial failures
	sessions    sessionSet   // live upstreams, for CloseSessions
	stats       memberCounters

	// Guarded by Pool.mu, for BackendStatuses.
	since     time.Time // last change of state or down
	healthErr error     // why a health source marked it down
}

func (m *member) usable(now int64) bool {
	return State(m.state.Load()) == StateReady && !m.down.Load() && m.failedUntil.Load() <= now
}

// usableForSticky reports whether clients stuck to the backend may
// still go there: a drained backend keeps its sticky clients.
func (m *member) usableForSticky(now int64) bool {
	s := State(m.state.Load())
	return (s == StateReady || s == StateDrain) && !m.down.Load() && m.failedUntil.Load() <= now &&
		!m.backend.Full()
}

// poolSnapshot is what Pick reads: rebuilt on every change, never mutated.
type poolSnapshot struct {
	picker  balance.Picker
	members []*member
	byID    map[string]*member
	// recheckAt is the earliest end of a fail window still running, in
	// unix nanoseconds, 0 if none: past it the snapshot is stale.
	recheckAt int64
}

var emptyPicker = balance.PickerFunc(func(balance.ConnInfo) (*balance.Backend, error) {
	return nil, balance.ErrNoBackend
})

// SetBackends replaces the pool's backends. A backend already in the pool
// (the same *balance.Backend) keeps its state and counters. Live
// connections to removed backends are not touched.
func (p *Pool) SetBackends(backends []*balance.Backend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := make(map[*balance.Backend]*member, len(p.members))
	for _, m := range p.members {
		old[m.backend] = m
	}
	members := make([]*member, 0, len(backends))
	for _, b := range backends {
		m := old[b]
		if m == nil {
			m = &member{backend: b}
		}
		members = append(members, m)
	}
	p.members = members
	p.rebuildLocked(time.Now().UnixNano())
}

// Backends returns the pool's backends in their configured order.
func (p *Pool) Backends() []*balance.Backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*balance.Backend, len(p.members))
	for i, m := range p.members {
		out[i] = m.backend
	}
	return out
}

// Addrs returns the backends' dial addresses, for a health monitor:
//
//	go mon.Run(ctx, pool.Addrs(), pool.SetHealthy)
func (p *Pool) Addrs() []string {
	bs := p.Backends()
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Addr
	}
	return out
}

// SetState sets the administrative state of the backend with the given
// ID (name, or address when unnamed). It reports whether the backend
// exists.
func (p *Pool) SetState(id string, s State) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.memberLocked(id)
	if m == nil {
		return false
	}
	if State(m.state.Swap(int32(s))) != s {
		m.since = time.Now()
	}
	p.rebuildLocked(time.Now().UnixNano())
	return true
}

// BackendState returns the administrative state of a backend and whether
// a health source marked it down.
func (p *Pool) BackendState(id string) (s State, down bool, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.memberLocked(id)
	if m == nil {
		return 0, false, false
	}
	return State(m.state.Load()), m.down.Load(), true
}

func (p *Pool) memberLocked(id string) *member {
	for _, m := range p.members {
		if m.backend.ID() == id {
			return m
		}
	}
	return nil
}

// rebuildLocked builds a new snapshot from the members' current state.
func (p *Pool) rebuildLocked(now int64) {
	var usable []*balance.Backend
	var recheckAt int64
	for _, m := range p.members {
		if f := m.failedUntil.Load(); f > now && (recheckAt == 0 || f < recheckAt) {
			recheckAt = f
		}
		if m.usable(now) {
			usable = append(usable, m.backend)
		}
	}
	s := &poolSnapshot{members: p.members, recheckAt: recheckAt, picker: emptyPicker,
		byID: make(map[string]*member, len(p.members))}
	for _, m := range p.members {
		s.byID[m.backend.ID()] = m
	}
	if eligible := balance.Eligible(usable, p.AllBackups); len(eligible) > 0 {
		bal := p.Balancer
		if bal == nil {
			bal = balance.LeastConn{}
		}
		s.picker = bal.Build(balance.BuildInfo{Backends: eligible})
	}
	p.snap.Store(s)
	p.queue.wakeAll()
}

// snapshot returns the current snapshot, rebuilding it first when a fail
// window has ended since it was built.
func (p *Pool) snapshot() *poolSnapshot {
	s := p.snap.Load()
	if s == nil {
		return &poolSnapshot{picker: emptyPicker}
	}
	if s.recheckAt != 0 {
		if now := time.Now().UnixNano(); now >= s.recheckAt {
			p.mu.Lock()
			if cur := p.snap.Load(); cur.recheckAt != 0 && now >= cur.recheckAt {
				p.rebuildLocked(now)
			}
			s = p.snap.Load()
			p.mu.Unlock()
		}
	}
	return s
}

// Pick chooses a usable backend for a new connection, without dialing.
func (p *Pool) Pick(ci balance.ConnInfo) (*balance.Backend, error) {
	return p.snapshot().picker.Pick(ci)
}

// retryLimit is how many further backends a connection may try after a
// failure: Retries, with 0 meaning DefaultRetries and a negative value
// none.
func (p *Pool) retryLimit() int { return defaulted(p.Retries, DefaultRetries) }

// defaulted applies the convention of the Pool's numeric settings: 0
// means the default def, and a negative value means none (0).
func defaulted[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// backendFailed counts a backend that failed a connection (its dial, or
// its CONNACK), logs why, and leaves it out for the fail window.
func (p *Pool) backendFailed(b *balance.Backend, what string, err error) {
	p.dialFailures.Add(1)
	p.countDialFailure(b)
	p.logger().Warn(what, "pool", p.Name, "backend", b.ID(), "addr", b.Addr, "err", err)
	p.markFailed(b)
}

// markFailed takes a backend out of the usable set for the fail window.
func (p *Pool) markFailed(b *balance.Backend) {
	window := p.FailWindow
	if window == 0 {
		window = DefaultFailWindow
	}
	until := int64(1<<63 - 1)
	if window > 0 {
		until = time.Now().Add(window).UnixNano()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.members {
		if m.backend == b {
			m.failedUntil.Store(until)
		}
	}
	p.rebuildLocked(time.Now().UnixNano())
}

// Upstream is a client's connection to its backend, as Pool.Dial made it.
// Call Release once, when the connection has ended.
type Upstream struct {
	// Conn is the connection to the backend.
	Conn net.Conn
	// Backend is the backend dialed; it counts the connection as active
	// until Release.
	Backend *balance.Backend
	// Redispatched counts the backends that failed before this one.
	Redispatched int
	// Sticky reports that the client went to the backend its client ID
	// sticks to, rather than to the balancer's pick.
	Sticky bool
	// Duplicates is the number of other live connections with the same
	// client ID when this one was made: the broker takes the session
	// over from them.
	Duplicates int

	table  *sticky.Table
	ref    sticky.Ref
	member *member // nil when the backend left the pool during Dial
	close  upstreamClose
	pool   *Pool // for the statistics
	queue  *slotQueue
}

// Release ends the upstream's claims: the backend's active count, the
// client ID's sticky reference and its place among the backend's live
// sessions. It does not close Conn.
func (u *Upstream) Release() {
	u.untrack()
	u.Backend.Release()
	u.table.Release(u.ref)
	u.countReleased()
	u.queue.wakeOne()
}

// Dial places the connection described by ci and connects to the
// backend: the backend its client ID sticks to when that one is still
// usable (see Sticky), else the balancer's pick. A backend whose dial
// fails is left out for the fail window and another is picked, up to
// Retries times (redispatch). The error wraps ErrNoBackend when no
// backend could be reached.
func (p *Pool) Dial(ctx context.Context, ci balance.ConnInfo) (*Upstream, error) {
	retries := p.retryLimit()
	table, session := p.Sticky, sticky.Session{
		Version: ci.ProtocolVersion, CleanStart: ci.CleanStart,
		Expiry: ci.SessionExpiry, HasExpiry: ci.HasSessionExpiry,
	}
	if table == nil {
		// Without a stick table only live connections count: an entry
		// lasts as long as its connections.
		table, session = &p.liveIDs, sticky.Session{CleanStart: true}
	}

	var lastErr error
	for attempt := 0; attempt <= retries; attempt++ {
		b, stuck, err := p.place(ci, table)
		if err != nil {
			if lastErr == nil {
				lastErr = err
			}
			break
		}
		b.Acquire()
		conn, err := p.dialOne(ctx, b)
		if err != nil {
			b.Release()
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			p.backendFailed(b, "backend dial failed", err)
			continue
		}
		if attempt > 0 {
			p.redispatches.Add(1)
		}
		u := &Upstream{Conn: conn, Backend: b, Redispatched: attempt, Sticky: stuck, table: table, queue: &p.queue}
		if m := p.snapshot().byID[b.ID()]; m != nil && m.backend == b {
			u.member = m
			m.sessions.add(u)
		}
		p.countConnected(u)
		if ci.ClientID != "" {
			u.ref, u.Duplicates = table.Acquire(ci.ClientID, b.ID(), session)
			if u.Duplicates > 0 {
				p.duplicates.Add(1)
				p.logger().Info("duplicate client ID: the broker will take the session over",
					"pool", p.Name, "client_id", ci.ClientID, "backend", b.ID(),
					"remote", ci.RemoteAddr, "other_live", u.Duplicates)
			}
		}
		return u, nil
	}
	p.stats.conns.rejected("no_backend")
	return nil, fmt.Errorf("%w: pool %q: %w", ErrNoBackend, p.Name, lastErr)
}

// place chooses the backend for one attempt: the sticky one if it is
// still usable for its clients, else the balancer's pick.
func (p *Pool) place(ci balance.ConnInfo, table *sticky.Table) (*balance.Backend, bool, error) {
	snap := p.snapshot()
	if ci.ClientID != "" {
		if id, ok := table.Load(ci.ClientID); ok {
			if m := snap.byID[id]; m != nil && m.usableForSticky(time.Now().UnixNano()) {
				p.stickyHits.Add(1)
				return m.backend, true, nil
			}
		}
	}
	b, err := snap.picker.Pick(ci)
	return b, false, err
}

func (p *Pool) dialOne(ctx context.Context, b *balance.Backend) (net.Conn, error) {
	timeout := p.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	if p.DialContext == nil {
		// A dial into the client's event loop takes the timeout as a
		// deadline, and needs no context of its own (nor its timer)
		// when the connection is made at once, as on loopback.
		if raddr, err := netip.ParseAddrPort(b.Addr); err == nil {
			if c, ok, err := splice.DialNear(ctx, raddr, timeout); ok {
				return c, err
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if p.DialContext != nil {
		return p.DialContext(ctx, "tcp", b.Addr)
	}
	return dialTCP(ctx, &backendDialer, netip.AddrPort{}, b.Addr)
}

// PoolCounters are a pool's event counters since it was created.
type PoolCounters struct {
	// Redispatches counts connections that reached a backend after
	// another one failed to answer.
	Redispatches uint64
	// DialFailures counts failed dials to backends.
	DialFailures uint64
	// DuplicateClientIDs counts connections made while another
	// connection with the same client ID was live.
	DuplicateClientIDs uint64
	// StickyHits counts connections placed by the sticky table.
	StickyHits uint64
}

// Counters returns the pool's event counters.
func (p *Pool) Counters() PoolCounters {
	return PoolCounters{
		Redispatches:       p.redispatches.Load(),
		DialFailures:       p.dialFailures.Load(),
		DuplicateClientIDs: p.duplicates.Load(),
		StickyHits:         p.stickyHits.Load(),
	}
}

func (p *Pool) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// errNoPool is wrapped when no route matched and there is no default pool.
var errNoPool = errors.New("no route matched and no default pool")
