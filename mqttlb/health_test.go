package mqttlb

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/health"
	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/splice"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// Short health settings, so that the end-to-end tests take seconds.
const (
	testInterval = 200 * time.Millisecond
	testRise     = 2
	testFall     = 2
)

// fleet is a set of MQTT clients that stay connected through the proxy
// and reconnect, after a short random pause, whenever their connection
// ends, until the test ends.
type fleet struct {
	addr string
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// startFleet connects n clients to addr, with client IDs prefix-0 to
// prefix-(n-1).
func startFleet(t *testing.T, addr, prefix string, n int) *fleet {
	f := &fleet{addr: addr, stop: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		f.wg.Go(func() { f.client(id) })
	}
	t.Cleanup(f.close)
	return f
}

// client keeps one client connected; bounded to 100 connections so that a
// broken proxy cannot make it spin.
func (f *fleet) client(id string) {
	for range 100 {
		conn, err := net.Dial("tcp", f.addr)
		if err == nil {
			if !f.track(conn) {
				conn.Close()
				return
			}
			f.session(conn, id)
			f.untrack(conn)
		}
		select {
		case <-f.stop:
			return
		case <-time.After(time.Duration(20+rand.IntN(80)) * time.Millisecond):
		}
	}
}

// session sends the CONNECT and waits for the connection to end.
func (f *fleet) session(conn net.Conn, id string) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(connectWire(4, id, 60)); err != nil {
		return
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[3] != 0 {
		return
	}
	conn.SetDeadline(time.Time{})
	io.Copy(io.Discard, conn)
}

func (f *fleet) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.stop:
		return false
	default:
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *fleet) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *fleet) close() {
	f.mu.Lock()
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// healthEvent is a monitor's event with the time it was reported.
type healthEvent struct {
	health.Event
	at time.Time
}

// startMonitor runs a monitor with the test settings over the pool's
// backends until the test ends, and returns its events.
func startMonitor(t *testing.T, pool *Pool, checker health.Checker) <-chan healthEvent {
	events := make(chan healthEvent, 64)
	mon := &health.Monitor{
		Checker:  checker,
		Interval: testInterval,
		Rise:     testRise,
		Fall:     testFall,
		Logger:   quietLogger(),
		OnEvent: func(ev health.Event) {
			// The pool first: a test that sees the event may look at
			// the pool's status at once.
			if ev.New == health.Up {
				pool.MarkUp(ev.Addr)
			} else {
				pool.MarkDown(ev.Addr, ev.Err)
			}
			select {
			case events <- healthEvent{ev, time.Now()}:
			default:
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mon.Run(ctx, pool.Addrs(), pool.SetHealthy) }()
	t.Cleanup(func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})
	return events
}

// awaitHealth waits for the event that brings addr to state, skipping
// others, and returns when it was reported.
func awaitHealth(t *testing.T, events <-chan healthEvent, addr string, state health.State) healthEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Addr == addr && ev.New == state {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s did not go %v within 10 s", addr, state)
		}
	}
}

// awaitHealthWithin waits for addr to reach state, logs how long that
// took since the cause at from, and checks that it took at most limit.
func awaitHealthWithin(t *testing.T, events <-chan healthEvent, addr string, state health.State, from time.Time, limit time.Duration, cause string) healthEvent {
	t.Helper()
	ev := awaitHealth(t, events, addr, state)
	took := ev.at.Sub(from)
	t.Logf("%s: marked %v after %v (%d successes, %d failures, interval %v, limit %v)",
		cause, state, took, ev.Successes, ev.Failures, testInterval, limit)
	assert.LessOrEqual(t, took, limit, cause)
	return ev
}

// Detection limits: the probes plus a second of slack for a busy machine.
const (
	downLimit = testFall*testInterval + time.Second
	upLimit   = testRise*testInterval + time.Second
)

// clientsOn sums the clients connected to the nodes.
func clientsOn(nodes ...*cluster.Node) int {
	n := 0
	for _, node := range nodes {
		n += node.Clients()
	}
	return n
}

// readinessChecker probes each node's own readiness endpoint: in the
// embedded cluster every node has its health port, so the check address
// is looked up from the backend's MQTT address.
func readinessChecker(c *cluster.Cluster) health.Checker {
	healthAddr := make(map[string]string)
	for _, n := range c.Nodes() {
		healthAddr[n.Addr()] = n.HealthAddr()
	}
	check := health.HTTP{Path: cluster.ReadinessPath}
	return health.CheckerFunc(func(ctx context.Context, addr string) error {
		return check.Check(ctx, healthAddr[addr])
	})
}

func TestHealthKilledBrokerLeavesAndRejoinsRotation(t *testing.T) {
	c := startCluster(t, 3)
	nodes := c.Nodes()
	pool := &Pool{Name: "brokers", Balancer: balance.LeastConn{}, FailWindow: 100 * time.Millisecond,
		ShutdownSessionsOnDown: true, Logger: quietLogger()}
	pool.SetBackends(backendsFor(c.Addrs()...))
	addr := startProxy(t, &Proxy{Default: pool})
	events := startMonitor(t, pool, health.TCP{})

	startFleet(t, addr, "first", 100)
	testnet.WaitFor(t, 20*time.Second, func() bool { return clientsOn(nodes...) == 100 }, "100 clients connected")
	for _, n := range nodes {
		require.Positive(t, n.Clients(), n.Name())
	}

	killed := nodes[1]
	killedAt := time.Now()
	require.NoError(t, killed.Stop())
	down := awaitHealthWithin(t, events, killed.Addr(), health.Down, killedAt, downLimit, "killed broker")
	assert.Error(t, down.Err)

	// Its clients were cut by the crash and reconnect to the others.
	testnet.WaitFor(t, 20*time.Second, func() bool { return clientsOn(nodes[0], nodes[2]) == 100 }, "clients reconnected elsewhere")

	// Past the fail window, only the health mark keeps the pool from
	// trying the dead node: new clients cost it no dial at all.
	time.Sleep(3 * pool.FailWindow)
	failures := pool.Counters().DialFailures
	more := startFleet(t, addr, "second", 20)
	testnet.WaitFor(t, 20*time.Second, func() bool { return clientsOn(nodes[0], nodes[2]) == 120 }, "20 more clients")
	assert.Equal(t, failures, pool.Counters().DialFailures, "the pool dialed the node marked down")
	more.close()
	testnet.WaitFor(t, 10*time.Second, func() bool { return clientsOn(nodes...) == 100 }, "second fleet gone")

	restartedAt := time.Now()
	require.NoError(t, killed.Start())
	awaitHealthWithin(t, events, killed.Addr(), health.Up, restartedAt, upLimit, "restarted broker")

	// Back in rotation: least connections sends every new client there.
	startFleet(t, addr, "third", 30)
	testnet.WaitFor(t, 20*time.Second, func() bool { return killed.Clients() == 30 }, "new clients on the restarted node")
	assert.Equal(t, 100, clientsOn(nodes[0], nodes[2]))
}

func TestHealthReadinessDownShutsDownSessionsPaced(t *testing.T) {
	c := startCluster(t, 3)
	nodes := c.Nodes()
	const window = time.Second
	pool := &Pool{Name: "brokers", Balancer: balance.LeastConn{},
		ShutdownSessionsOnDown: true, ShutdownWindow: window, Logger: quietLogger()}
	pool.SetBackends(backendsFor(c.Addrs()...))
	conns := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, OnConn: conns.add})
	events := startMonitor(t, pool, readinessChecker(c))

	startFleet(t, addr, "device", 100)
	testnet.WaitFor(t, 20*time.Second, func() bool { return clientsOn(nodes...) == 100 }, "100 clients connected")
	target := nodes[1]
	onTarget := target.Clients()
	require.Positive(t, onTarget)

	unreadyAt := time.Now()
	target.SetReady(false) // the broker runs on, its readiness answers 503
	down := awaitHealthWithin(t, events, target.Addr(), health.Down, unreadyAt, downLimit, "unready broker")
	assert.ErrorIs(t, down.Err, health.ErrStatus)

	// The proxy closes the node's sessions over the window; the clients
	// come back through the proxy and land on the other nodes.
	testnet.WaitFor(t, 20*time.Second, func() bool {
		return target.Clients() == 0 && clientsOn(nodes[0], nodes[2]) == 100
	}, "clients moved off the unready node")
	// The pool's own mark, not the moment the test saw the event: the
	// monitor reports the event and updates the pool one after the other.
	markedAt := pool.BackendStatuses()[1].Since
	require.True(t, pool.BackendStatuses()[1].Down)
	var first, last time.Time
	killed := 0
	for _, ev := range conns.all() {
		if ev.Backend != "node2" {
			continue
		}
		// The node runs on and would take clients: only the health
		// mark keeps the reconnecting ones away. A connection placed
		// there was accepted before the mark.
		assert.True(t, ev.Start.Before(markedAt), "a client landed on the node marked down")
		if !assert.Equal(t, splice.EndKilled.String(), ev.End) {
			continue
		}
		killed++
		end := ev.Start.Add(ev.Duration)
		if first.IsZero() || end.Before(first) {
			first = end
		}
		if end.After(last) {
			last = end
		}
	}
	assert.Equal(t, onTarget, killed, "sessions closed by the proxy")
	t.Logf("%d sessions closed over %v (window %v)", killed, last.Sub(first), window)
	assert.GreaterOrEqual(t, last.Sub(first), window/3, "closes not spread over the window")
	assert.LessOrEqual(t, last.Sub(down.at), window+time.Second)

	readyAt := time.Now()
	target.SetReady(true)
	up := awaitHealthWithin(t, events, target.Addr(), health.Up, readyAt, upLimit, "ready broker")
	status := pool.BackendStatuses()[1]
	assert.False(t, status.Down)
	assert.False(t, status.Since.Before(up.at.Add(-time.Second)))
}

func TestHealthBackupSessionsClosedWhenRegularUp(t *testing.T) {
	c := startCluster(t, 3)
	nodes := c.Nodes()
	backends := backendsFor(c.Addrs()...)
	backends[2].Backup = true
	pool := &Pool{Name: "brokers", Balancer: balance.LeastConn{},
		ShutdownBackupSessionsOnUp: true, ShutdownWindow: 300 * time.Millisecond, Logger: quietLogger()}
	pool.SetBackends(backends)
	addr := startProxy(t, &Proxy{Default: pool})
	events := startMonitor(t, pool, readinessChecker(c))

	nodes[0].SetReady(false)
	nodes[1].SetReady(false)
	testnet.WaitFor(t, 10*time.Second, func() bool {
		st := pool.BackendStatuses()
		return st[0].Down && st[1].Down
	}, "both regular nodes down")

	startFleet(t, addr, "device", 20)
	testnet.WaitFor(t, 20*time.Second, func() bool { return nodes[2].Clients() == 20 }, "clients on the backup")

	nodes[0].SetReady(true)
	awaitHealth(t, events, nodes[0].Addr(), health.Up)
	testnet.WaitFor(t, 20*time.Second, func() bool {
		return nodes[2].Clients() == 0 && nodes[0].Clients() == 20
	}, "clients moved from the backup to the regular node")
	assert.Zero(t, nodes[1].Clients())
}

func TestHealthNothingLeftAfterMonitorAndProxyEnd(t *testing.T) {
	before := goleak.IgnoreCurrent()
	c, err := cluster.Start(cluster.Config{Nodes: 2, Logger: quietLogger()})
	require.NoError(t, err)
	defer c.Close()
	pool := &Pool{Name: "brokers", ShutdownSessionsOnDown: true, ShutdownWindow: time.Hour, Logger: quietLogger()}
	pool.SetBackends(backendsFor(c.Addrs()...))
	proxy := &Proxy{Default: pool, Logger: quietLogger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- proxy.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	monitored := make(chan error, 1)
	mon := &health.Monitor{Checker: health.TCP{}, Interval: testInterval, Logger: quietLogger()}
	go func() { monitored <- mon.Run(ctx, pool.Addrs(), pool.SetHealthy) }()

	clients := startFleet(t, ln.Addr().String(), "device", 10)
	testnet.WaitFor(t, 10*time.Second, func() bool { return clientsOn(c.Nodes()...) == 10 }, "10 clients")
	// Closes scheduled an hour ahead are pending timers when all ends.
	scheduled, _ := pool.CloseSessions("node1", time.Hour)
	require.Positive(t, scheduled)

	cancel()
	assert.ErrorIs(t, <-monitored, context.Canceled)
	require.NoError(t, proxy.Close())
	assert.ErrorIs(t, <-served, ErrProxyClosed)
	clients.close()
	require.NoError(t, c.Close())
	for _, st := range pool.BackendStatuses() {
		assert.Zero(t, st.Sessions, st.Backend.ID())
		assert.Zero(t, st.Backend.Active(), st.Backend.ID())
	}
	goleak.VerifyNone(t, before)
}
