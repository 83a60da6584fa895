package mqttlb

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/splice"
)

// ErrProxyClosed is returned by Serve after Shutdown or Close.
var ErrProxyClosed = errors.New("mqttlb: proxy closed")

// keepAliveGrace is the factor applied to a client's keep-alive to get the
// time the proxy waits for its next byte: "one and a half times the Keep
// Alive time period" (MQTT 3.1.1 §3.1.2.10, MQTT 5.0 §3.1.2.10).
const keepAliveGrace = 3 // halves: 1.5 = 3/2

// Proxy accepts MQTT clients, reads each client's CONNECT, routes it to a
// pool, dials a backend and relays the connection in both directions.
//
// The zero value is not useful until Default or Routes name a pool; every
// other field has a working default. Set the fields before Serve and do
// not change them afterwards. Serve, ServeConn, Shutdown and Close are
// safe for concurrent use.
type Proxy struct {
	// Routes are tried in order; the first whose matcher accepts the
	// connection gives its pool.
	Routes []Route
	// Default serves connections no route matched; nil refuses them with
	// "server unavailable".
	Default *Pool
	// ConnectTimeout bounds the wait for a client's whole CONNECT; 0
	// means DefaultConnectTimeout, negative means no limit.
	ConnectTimeout time.Duration
	// MaxConnectSize caps the CONNECT packet in bytes; 0 means
	// DefaultMaxConnectSize.
	MaxConnectSize int
	// IdleTimeout closes a connection whose client sent nothing for this
	// long when its CONNECT has keep-alive 0 (no keep-alive); with a
	// keep-alive, the limit is 1.5 × keep-alive as the MQTT specification
	// gives servers. 0 means off.
	IdleTimeout time.Duration
	// Logger receives one line per connection end and per refusal; nil
	// means slog.Default().
	Logger *slog.Logger
	// DontLogNormal leaves out the log line of a connection that ended
	// normally: relayed, closed by the client or the backend, with no
	// error, no retry and no refusal (HAProxy's "option dontlog-normal").
	// Refusals, errors, idle cuts, kills and redispatched connections are
	// still logged, and OnConn and the statistics see every connection.
	DontLogNormal bool
	// OnConn, if set, is called once per connection when it ends or is
	// refused, from the goroutine that handled it. It must not block.
	OnConn func(ConnEvent)
	// MaxConn caps the connections open at once, relayed or not yet
	// (HAProxy's global "maxconn"): at the cap, Serve stops accepting
	// until one ends, and ServeConn refuses with ErrQuotaExceeded. 0
	// means no cap. ServeMaxConn caps one listener.
	MaxConn int
	// Limiter, if set, limits the rate of new connections per source
	// address and in total; nil means no rate limit.
	Limiter *ConnLimiter
	// Opaque relays every connection without reading a CONNECT: the
	// plain TCP passthrough of HAProxy's "mode tcp", for clients whose
	// MQTT is wrapped in something the proxy does not terminate (such as
	// WebSocket forwarded to the brokers' own WebSocket port). Routes see
	// only the addresses and the TLS server name; nothing is refused with
	// a CONNACK, and IdleTimeout is the only idle limit.
	Opaque bool

	engine     splice.Engine
	inShutdown atomic.Bool
	stats      proxyCounters

	routingTable atomic.Pointer[routingTable] // set by SetRouting

	mu        sync.Mutex
	slots     *connSlots // open connections, for MaxConn
	listeners map[*net.Listener]struct{}
	pending   map[net.Conn]struct{} // accepted, CONNECT not yet relayed
	live      map[*liveConn]struct{}
	handlers  sync.WaitGroup // Serve loops and connection handshakes
	relays    sync.WaitGroup // relayed connections until their end is reported
	workers   handshakeWorkers
	closeCtx  context.Context
	cancelAll context.CancelFunc
}

// liveConn is a relayed connection, kept so Shutdown and Close can end it.
// Its session is set once the relay has started; a close that comes
// earlier is remembered and applied then.
type liveConn struct {
	mu      sync.Mutex
	session *splice.Session
	killed  bool
}

func (lc *liveConn) close() {
	lc.mu.Lock()
	lc.killed = true
	s := lc.session
	lc.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

func (lc *liveConn) started(s *splice.Session) {
	lc.mu.Lock()
	lc.session = s
	killed := lc.killed
	lc.mu.Unlock()
	if killed {
		s.Close()
	}
}

// ConnEvent describes one connection when it ends or is refused.
type ConnEvent struct {
	Remote, Local   netip.AddrPort
	ClientID        string
	Username        string
	ProtocolVersion byte
	// Route and Pool name where the connection was sent; Backend is the
	// backend's ID, empty when the connection was refused.
	Route, Pool, Backend string
	// Redispatched counts the backends that failed to answer a dial
	// before Backend did.
	Redispatched int
	// Sticky reports that the sticky table chose Backend.
	Sticky bool
	// Duplicates is the number of other live connections with the same
	// client ID when this one was made.
	Duplicates int
	Start      time.Time
	Duration   time.Duration
	// Up and Down count the bytes relayed from the client (the CONNECT
	// included) and to it.
	Up, Down int64
	// End says why the connection ended (see splice.End); for a refusal
	// it is "refused".
	End string
	// Err is the refusal or the error that ended the connection, if any.
	Err error

	limit *listenerLimit // the listener's connection cap, released at the end
}

// ListenAndServe listens on the TCP address and serves on it.
func (p *Proxy) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return p.Serve(ln)
}

// Serve accepts connections on ln and handles each in a goroutine of
// its own (kept for later connections once the handshake is over) until
// Shutdown or Close, when it returns ErrProxyClosed. Temporary accept
// errors (such as running out of file descriptors) are retried with a
// backoff of up to one second. Serve closes ln when it returns.
//
// A *net.TCPListener is served through the relay's event loops on Linux:
// each connection is accepted into a loop and its backend dialed into the
// same loop, so that the relay takes both sockets over as they are
// (internal/splice's Conn). Serve sets TCP_NODELAY on such a listener.
// Closing ln directly still stops Serve, within a fraction of a second.
func (p *Proxy) Serve(ln net.Listener) error { return p.serve(ln, nil) }

func (p *Proxy) serve(ln net.Listener, lim *listenerLimit) error {
	if tl, ok := ln.(*net.TCPListener); ok {
		// Plain TCP: connections are born in the relay's event loops
		// (Linux), and keep their sockets through the hand-over.
		ln = p.engine.Listener(tl)
	}
	if !p.trackListener(&ln, true) {
		ln.Close()
		return ErrProxyClosed
	}
	defer p.trackListener(&ln, false)
	defer ln.Close()

	var backoff time.Duration
	for {
		if !p.awaitSlots(lim) {
			return ErrProxyClosed
		}
		c, err := ln.Accept()
		if err != nil {
			p.releaseSlots(lim)
			if p.inShutdown.Load() {
				return ErrProxyClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				p.logger().Warn("accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !p.trackPending(c) {
			c.Close()
			p.releaseSlots(lim)
			return ErrProxyClosed
		}
		p.dispatch(acceptedConn{c, lim})
	}
}

// isTemporary reports accept errors worth retrying: descriptor exhaustion
// and connections reset before they were accepted.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// serveAccepted handles one accepted connection until it is handed to
// the relay or refused, on a handshake worker.
func (p *Proxy) serveAccepted(c net.Conn, lim *listenerLimit) {
	defer p.handlers.Done()
	p.handle(c, lim, nil)
}

// ServeConn handles one client connection that the caller accepted: it
// reads the CONNECT, routes, dials and hands the pair to the relay, then
// returns; the relay goes on in the background until the connection
// ends, and Shutdown or Close end it. ServeConn returns the refusal error
// when the connection was refused.
func (p *Proxy) ServeConn(c net.Conn) error {
	if !p.trackPending(c) {
		c.Close()
		return ErrProxyClosed
	}
	defer p.handlers.Done()
	return p.handle(c, nil, p.admitServeConn())
}

// handle runs the steps of shared/DESIGN.md §2 for one connection. The
// caller has registered c as pending.
func (p *Proxy) handle(c net.Conn, lim *listenerLimit, limited error) error {
	start := time.Now()
	ev := ConnEvent{Start: start, limit: lim}
	p.countOpened(start)

	hello, version, err := p.readHello(c)
	ev.Remote, ev.Local = addrPort(c.RemoteAddr()), addrPort(c.LocalAddr())
	if err != nil {
		ev.ProtocolVersion = version
		return p.refuse(c, version, err, ev)
	}
	defer hello.Release()
	if limited == nil {
		limited = p.limitRate(ev.Remote)
	}
	if limited != nil {
		ev.ClientID, ev.Username, ev.ProtocolVersion = hello.ClientID, hello.Username, version
		return p.refuse(c, version, limited, ev)
	}
	ci := balance.ConnInfo{
		ClientID:         hello.ClientID,
		Username:         hello.Username,
		RemoteAddr:       ev.Remote,
		LocalAddr:        ev.Local,
		ProtocolVersion:  hello.ProtocolVersion,
		CleanStart:       hello.CleanStart,
		KeepAlive:        hello.KeepAlive,
		SessionExpiry:    hello.SessionExpiry,
		HasSessionExpiry: hello.HasSessionExpiry,
	}
	tlsState := clientTLS(c, &ci)
	ev.ClientID, ev.Username, ev.ProtocolVersion = ci.ClientID, ci.Username, ci.ProtocolVersion

	route, pool := p.route(ci)
	ev.Route = route
	p.countRouted(route, start)
	if pool == nil {
		return p.refuse(c, version, errors.Join(ErrNoBackend, errNoPool), ev)
	}
	ev.Pool = pool.Name
	if p.inShutdown.Load() {
		return p.refuse(c, version, ErrNoBackend, ev)
	}
	// Forward the CONNECT and whatever the client pipelined, unchanged.
	up, greeting, err := p.connectBackend(c, pool, ci, tlsState, hello.Bytes)
	if err != nil {
		return p.refuse(c, version, err, ev)
	}
	lc := &liveConn{}
	up.SetClose(lc.close)
	// The relay owns the connection from here, and lc ends it.
	backendConn := up.takeConn()
	ev.Backend, ev.Redispatched, ev.Sticky, ev.Duplicates = up.Backend.ID(), up.Redispatched, up.Sticky, up.Duplicates
	ev.Up = int64(len(hello.Bytes))
	if err := p.forwardGreeting(c, greeting); err != nil {
		backendConn.Close()
		up.Release()
		ev.Err = err
		ev.End = endClientError
		c.Close()
		p.untrackPending(c)
		p.finish(ev)
		return nil
	}
	ev.Down = int64(len(greeting))

	cfg := splice.Config{ClientIdle: p.clientIdle(hello.KeepAlive)}
	// The relay's end needs only the connections whose close goes on in
	// the background: holding the others would keep their Go objects
	// alive for the connection's life, though the relay took their
	// sockets.
	closing := closeWaits(c, backendConn)
	p.mu.Lock()
	delete(p.pending, c)
	p.live[lc] = struct{}{}
	p.relays.Add(1)
	p.mu.Unlock()
	lc.started(p.engine.Start(c, backendConn, cfg, func(r splice.Result) {
		up.Release()
		ev.Up += r.Up
		ev.Down += r.Down
		up.CountBytes(ev.Up, ev.Down)
		ev.End = r.End.String()
		ev.Err = r.Err
		p.mu.Lock()
		delete(p.live, lc)
		p.mu.Unlock()
		p.finish(ev)
		p.relayEnded(closing)
	}))
	return nil
}

// backgroundCloser is a connection whose Close finishes in the
// background: a WebSocket sends its close frame and waits for the
// peer's, bounded, on a goroutine of its own, so that paced closes do not
// wait a round trip per client.
type backgroundCloser interface {
	closeDone() <-chan struct{}
}

// closeWaits returns, for the background-closing connections among
// conns, the channels that tell when their close is over; nil when there
// is none.
func closeWaits(conns ...net.Conn) []<-chan struct{} {
	var waits []<-chan struct{}
	for _, c := range conns {
		if bc, ok := c.(backgroundCloser); ok {
			waits = append(waits, bc.closeDone())
		}
	}
	return waits
}

// relayEnded marks a relay as over once the close of each of its
// background-closing connections is complete (pending, from
// closeWaits), so that Shutdown and Close return only when no goroutine
// of any connection is left.
func (p *Proxy) relayEnded(pending []<-chan struct{}) {
	if len(pending) == 0 {
		p.relays.Done()
		return
	}
	go p.awaitCloses(pending)
}

// awaitCloses is the goroutine of relayEnded for background closes; the
// relays group still counts it.
func (p *Proxy) awaitCloses(pending []<-chan struct{}) {
	defer p.relays.Done()
	for _, done := range pending {
		<-done
	}
}

// clientIdle is the relay's idle limit for a client's keep-alive.
func (p *Proxy) clientIdle(keepAlive uint16) time.Duration {
	if keepAlive == 0 {
		return max(p.IdleTimeout, 0)
	}
	return time.Duration(keepAlive) * time.Second * keepAliveGrace / 2
}

// refuse answers and closes a refused connection and reports it.
func (p *Proxy) refuse(c net.Conn, version byte, reason error, ev ConnEvent) error {
	_ = Reject(c, version, reason)
	p.untrackPending(c)
	ev.End = endRefused
	ev.Err = reason
	p.finish(ev)
	return reason
}

// finish logs the connection's end and calls OnConn.
func (p *Proxy) finish(ev ConnEvent) {
	p.releaseSlots(ev.limit)
	ev.Duration = time.Since(ev.Start)
	p.countEnded(&ev)
	if !p.DontLogNormal || !normalEnd(&ev) {
		p.logEnd(&ev)
	}
	if p.OnConn != nil {
		p.OnConn(ev)
	}
}

// logEnd writes the connection's line. Typed attributes: the line is
// written for every connection, and key-value pairs would box each
// number, string and duration. The record goes to the handler directly,
// with no caller's PC: the line's source would always be this function,
// and finding it costs a stack walk per connection. err is there only
// when there is one.
func (p *Proxy) logEnd(ev *ConnEvent) {
	ctx := context.Background()
	h := p.logger().Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	var r slog.Record
	if ev.End == endRefused {
		r = slog.NewRecord(time.Now(), slog.LevelInfo, "connection refused", 0)
		r.AddAttrs(slog.Any("remote", ev.Remote), slog.String("client_id", ev.ClientID), slog.String("username", ev.Username),
			slog.String("route", ev.Route), slog.String("pool", ev.Pool), slog.String("reason", RefusalReason(ev.Err)),
			slog.Any("err", ev.Err), slog.Duration("duration", ev.Duration), slog.String("term", TerminationCode(*ev)))
	} else {
		r = slog.NewRecord(time.Now(), slog.LevelInfo, "connection closed", 0)
		r.AddAttrs(slog.Any("remote", ev.Remote), slog.String("client_id", ev.ClientID), slog.String("username", ev.Username),
			slog.String("route", ev.Route), slog.String("pool", ev.Pool), slog.String("backend", ev.Backend),
			slog.Int64("up", ev.Up), slog.Int64("down", ev.Down), slog.Duration("duration", ev.Duration),
			slog.String("end", ev.End), slog.String("term", TerminationCode(*ev)))
		if ev.Err != nil {
			r.AddAttrs(slog.Any("err", ev.Err))
		}
	}
	_ = h.Handle(ctx, r)
}

// normalEnd reports a connection that was relayed and ended the usual
// way: one side closed, nothing failed, and no backend had to be retried.
func normalEnd(ev *ConnEvent) bool {
	if ev.Err != nil || ev.Redispatched > 0 {
		return false
	}
	return ev.End == endClientClosed || ev.End == endBackendClosed
}

func (p *Proxy) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case interface{ AddrPort() netip.AddrPort }:
		return a.AddrPort()
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// initLocked prepares the tracking state on first use.
func (p *Proxy) initLocked() {
	if p.listeners == nil {
		p.listeners = make(map[*net.Listener]struct{})
		p.pending = make(map[net.Conn]struct{})
		p.live = make(map[*liveConn]struct{})
		p.closeCtx, p.cancelAll = context.WithCancel(context.Background())
		p.workers.init()
	}
}

// context is cancelled by Close, ending dials in progress.
func (p *Proxy) context() context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.initLocked()
	return p.closeCtx
}

func (p *Proxy) trackListener(ln *net.Listener, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.initLocked()
	if add {
		if p.inShutdown.Load() {
			return false
		}
		p.listeners[ln] = struct{}{}
		p.handlers.Add(1)
	} else {
		delete(p.listeners, ln)
		p.handlers.Done()
	}
	return true
}

// trackPending registers an accepted connection and counts its handler;
// it refuses once the proxy is shutting down.
func (p *Proxy) trackPending(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.initLocked()
	if p.inShutdown.Load() {
		return false
	}
	p.pending[c] = struct{}{}
	p.handlers.Add(1)
	return true
}

func (p *Proxy) untrackPending(c net.Conn) {
	p.mu.Lock()
	delete(p.pending, c)
	p.mu.Unlock()
}

// Shutdown stops accepting, closes the connections whose CONNECT has not
// been relayed yet (those still dialing are refused with "server
// unavailable"), and closes the relayed
// connections spread evenly, with jitter, over the time left until ctx's
// deadline (10 s when ctx has none), so that clients reconnect elsewhere
// in a trickle rather than a storm. It returns when every connection has
// ended and every goroutine of the proxy has exited; if ctx ends first,
// the rest is closed at once and ctx's error returned.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.closeListeners()
	p.mu.Lock()
	for c := range p.pending {
		c.Close()
	}
	p.mu.Unlock()

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	// Keep a tenth of the window, at most a second, for the closes to
	// finish and the last goroutines to return.
	window := time.Until(deadline)
	window -= min(window/10, time.Second)

	p.mu.Lock()
	live := make([]*liveConn, 0, len(p.live))
	for lc := range p.live {
		live = append(live, lc)
	}
	p.mu.Unlock()

	// Connections that end by themselves meanwhile (clients leaving
	// while the signal arrives) free their slots: once none is left,
	// the pacing stops instead of sleeping out the window.
	ended := make(chan struct{})
	go waitGroups(ended, []*sync.WaitGroup{&p.handlers, &p.relays})
	err := pacedClose(ctx, ended, live, window)
	if err == nil {
		select {
		case <-ended:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		p.closeAll()
	}
	p.handlers.Wait()
	p.relays.Wait()
	p.workers.wg.Wait()
	p.engine.Close()
	return err
}

// pacedClose ends the connections one by one, the i-th at about
// i × window/n from now, each slot moved by up to half a slot of jitter.
// It returns early, with nil, once ended is closed.
func pacedClose(ctx context.Context, ended <-chan struct{}, live []*liveConn, window time.Duration) error {
	if len(live) == 0 {
		return nil
	}
	rand.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	start := time.Now()
	slot := max(window, 0) / time.Duration(len(live))
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i, lc := range live {
		at := start.Add(paceOffset(i, slot))
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ended:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		lc.close()
	}
	return nil
}

func waitGroups(done chan<- struct{}, groups []*sync.WaitGroup) {
	for _, g := range groups {
		g.Wait()
	}
	close(done)
}

// Close stops accepting and closes every connection at once. It returns
// when every goroutine of the proxy has exited.
func (p *Proxy) Close() error {
	p.closeListeners()
	p.closeAll()
	p.handlers.Wait()
	p.relays.Wait()
	p.workers.wg.Wait()
	return p.engine.Close()
}

func (p *Proxy) closeListeners() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.initLocked()
	p.inShutdown.Store(true)
	p.workers.stop()
	for ln := range p.listeners {
		(*ln).Close()
	}
}

// closeAll cuts pending and live connections and cancels dials.
func (p *Proxy) closeAll() {
	p.mu.Lock()
	p.initLocked()
	p.cancelAll()
	for c := range p.pending {
		c.Close()
	}
	live := make([]*liveConn, 0, len(p.live))
	for lc := range p.live {
		live = append(live, lc)
	}
	p.mu.Unlock()
	for _, lc := range live {
		lc.close()
	}
}
