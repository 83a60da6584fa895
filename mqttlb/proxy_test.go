package mqttlb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// connectWire returns a minimal CONNECT of the given version and client ID
// with the given keep-alive.
func connectWire(version byte, id string, keepAlive uint16) []byte {
	name := []byte("MQTT")
	if version == 3 {
		name = []byte("MQIsdp")
	}
	vh := []byte{0, byte(len(name))}
	vh = append(vh, name...)
	vh = append(vh, version, 0x02, byte(keepAlive>>8), byte(keepAlive))
	if version == 5 {
		vh = append(vh, 0) // no properties
	}
	vh = append(vh, byte(len(id)>>8), byte(len(id)))
	vh = append(vh, id...)
	return append([]byte{0x10, byte(len(vh))}, vh...)
}

func TestLeastConnSpreads300Clients(t *testing.T) {
	c := startCluster(t, 3)
	pool := &Pool{Name: "brokers", Balancer: balance.LeastConn{}}
	pool.SetBackends(backendsFor(c.Addrs()...))
	addr := startProxy(t, &Proxy{Default: pool})

	var wg sync.WaitGroup
	errs := make(chan error, 300)
	conns := make(chan net.Conn, 300)
	for i := range 300 {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			conns <- conn
			conn.Write(connectWire(4, fmt.Sprintf("lc-%03d", i), 60))
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			ack := make([]byte, 4)
			if _, err := io.ReadFull(conn, ack); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	close(conns)
	for err := range errs {
		require.NoError(t, err)
	}
	defer func() {
		for conn := range conns {
			conn.Close()
		}
	}()
	for _, n := range c.Nodes() {
		assert.InDelta(t, 100, n.Clients(), 10, "node %s holds %d of 300", n.Name(), n.Clients())
	}
	for _, b := range pool.Backends() {
		assert.InDelta(t, 100, b.Active(), 10, "backend %s", b.ID())
	}
}

func TestRoundRobinCyclesInOrder(t *testing.T) {
	c := startCluster(t, 3)
	pool := &Pool{Name: "brokers", Balancer: balance.RoundRobin{}}
	pool.SetBackends(backendsFor(c.Addrs()...))
	events := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, OnConn: events.add})

	var got []string
	for i := range 9 {
		id := fmt.Sprintf("rr-%d", i)
		conn, ack := rawConnect(t, addr, connectWire(4, id, 60))
		require.Equal(t, connackOK311, ack)
		testnet.WaitFor(t, 5*time.Second, func() bool { return nodeHolding(c.Nodes(), id) != "" }, id+" on a node")
		got = append(got, nodeHolding(c.Nodes(), id))
		conn.Close()
	}
	// Whatever node comes first, the order then repeats with period 3.
	for i := 3; i < len(got); i++ {
		assert.Equal(t, got[i-3], got[i], "position %d in %v", i, got)
	}
	assert.ElementsMatch(t, []string{"node1", "node2", "node3"}, got[:3])
}

func TestRedispatchPastARefusingBackend(t *testing.T) {
	c := startCluster(t, 1)
	dead := closedAddr(t)
	pool := &Pool{Name: "brokers", Balancer: balance.RoundRobin{}, FailWindow: time.Minute}
	pool.SetBackends([]*balance.Backend{{Name: "dead", Addr: dead}, {Name: "live", Addr: c.Addrs()[0]}})
	events := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, OnConn: events.add})

	for i := range 10 {
		conn, ack := rawConnect(t, addr, connectWire(4, fmt.Sprintf("rd-%d", i), 60))
		assert.Equal(t, connackOK311, ack, "client %d", i)
		conn.Close()
	}
	testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == 10 }, "10 connection events")
	redispatched := 0
	for _, ev := range events.all() {
		assert.Equal(t, "live", ev.Backend)
		redispatched += ev.Redispatched
	}
	// The dead backend is tried once, then left out for the fail window.
	assert.Equal(t, 1, redispatched)
}

func TestAllBackendsDownAnswersServerUnavailable(t *testing.T) {
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(closedAddr(t), closedAddr(t)))
	events := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, OnConn: events.add})

	for _, tc := range []struct {
		version byte
		want    []byte
	}{
		{3, []byte{0x20, 2, 0x00, 0x03}},
		{4, []byte{0x20, 2, 0x00, 0x03}},
		{5, []byte{0x20, 3, 0x00, 0x88, 0x00}},
	} {
		t.Run(fmt.Sprintf("v%d", tc.version), func(t *testing.T) {
			_, ack := rawConnect(t, addr, connectWire(tc.version, "down", 60))
			assert.Equal(t, tc.want, ack)
		})
	}
	for _, ev := range events.all() {
		assert.ErrorIs(t, ev.Err, ErrNoBackend)
		assert.Equal(t, "refused", ev.End)
	}
}

func TestNoRouteAnswersServerUnavailable(t *testing.T) {
	c := startCluster(t, 1)
	pool := &Pool{Name: "only-sensors"}
	pool.SetBackends(backendsFor(c.Addrs()...))
	addr := startProxy(t, &Proxy{Routes: []Route{{Name: "sensors", Match: ClientIDPrefix("sensor-"), Pool: pool}}})

	conn, ack := rawConnect(t, addr, connectWire(4, "sensor-1", 60))
	assert.Equal(t, connackOK311, ack)
	conn.Close()
	_, ack = rawConnect(t, addr, connectWire(5, "camera-1", 60))
	assert.Equal(t, []byte{0x20, 3, 0x00, 0x88, 0x00}, ack)
}

func TestBackendKilledClosesItsClientsWithinOneSecond(t *testing.T) {
	c := startCluster(t, 2)
	pool := &Pool{Name: "brokers", Balancer: balance.RoundRobin{}}
	pool.SetBackends(backendsFor(c.Addrs()...))
	addr := startProxy(t, &Proxy{Default: pool})

	victim := c.Nodes()[0]
	var onVictim []net.Conn
	for i := range 200 {
		id := fmt.Sprintf("kill-%03d", i)
		conn, ack := rawConnect(t, addr, connectWire(4, id, 60))
		require.Equal(t, connackOK311, ack)
		if victim.HasClient(id) {
			onVictim = append(onVictim, conn)
		}
	}
	require.Len(t, onVictim, 100)

	killed := time.Now()
	require.NoError(t, victim.Stop())
	var wg sync.WaitGroup
	closedAfter := make([]time.Duration, len(onVictim))
	for i, conn := range onVictim {
		wg.Go(func() {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.Copy(io.Discard, conn)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				closedAfter[i] = time.Since(killed)
			} else {
				closedAfter[i] = time.Hour
			}
		})
	}
	wg.Wait()
	for i, d := range closedAfter {
		assert.Less(t, d, time.Second, "client %d closed after %v", i, d)
	}
}

// rawBackend is a minimal TCP peer standing in for a broker where the test
// needs a behaviour no broker has (one that never enforces keep-alive, or
// that talks after the client half-closed). It answers each CONNECT with
// a 3.1.1 CONNACK and then runs serve.
func rawBackend(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	addr := testnet.Serve(t, func(conn net.Conn) {
		if answerConnect(conn) {
			serve(conn)
		}
	})
	return addr
}

// answerConnect is a stand-in broker's greeting: it reads the CONNECT and
// answers with a 3.1.1 CONNACK, reporting false if no CONNECT came.
func answerConnect(conn net.Conn) bool {
	c, _, err := ReadConnect(conn, 5*time.Second, 0)
	if err != nil {
		return false
	}
	c.Release()
	conn.Write(connackOK311)
	return true
}

func TestHalfCloseDeliversBackendBytesAfterClientEOF(t *testing.T) {
	late := []byte("data sent after the client half-closed")
	backend := rawBackend(t, func(conn net.Conn) {
		// Wait for the client's EOF, then answer.
		io.Copy(io.Discard, conn)
		conn.Write(late)
	})
	pool := &Pool{}
	pool.SetBackends(backendsFor(backend))
	addr := startProxy(t, &Proxy{Default: pool})

	conn, ack := rawConnect(t, addr, connectWire(4, "half", 60))
	require.Equal(t, connackOK311, ack)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.Equal(t, late, got)
}

func TestKeepAliveCutsSilentClient(t *testing.T) {
	backend := rawBackend(t, func(conn net.Conn) {
		// Answer PINGREQs, never time out.
		buf := make([]byte, 2)
		for {
			if _, err := io.ReadFull(conn, buf); err != nil {
				return
			}
			if buf[0] == 0xC0 {
				conn.Write([]byte{0xD0, 0})
			}
		}
	})
	pool := &Pool{}
	pool.SetBackends(backendsFor(backend))
	addr := startProxy(t, &Proxy{Default: pool})

	silent, ack := rawConnect(t, addr, connectWire(4, "silent", 2))
	require.Equal(t, connackOK311, ack)
	pinger, ack := rawConnect(t, addr, connectWire(4, "pinger", 2))
	require.Equal(t, connackOK311, ack)

	start := time.Now()
	cut := make(chan time.Duration, 1)
	go func() {
		silent.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, silent)
		cut <- time.Since(start)
	}()
	// The pinger pings every second for 5 s and must stay connected.
	pingerErr := make(chan error, 1)
	go func() {
		resp := make([]byte, 2)
		for range 5 {
			time.Sleep(time.Second)
			if _, err := pinger.Write([]byte{0xC0, 0}); err != nil {
				pingerErr <- err
				return
			}
			pinger.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadFull(pinger, resp); err != nil {
				pingerErr <- err
				return
			}
		}
		pingerErr <- nil
	}()
	d := <-cut
	assert.InDelta(t, 3*time.Second, d, float64(700*time.Millisecond), "silent client cut after %v, want about 1.5 × 2 s", d)
	assert.NoError(t, <-pingerErr, "the pinging client stays")
}

// TestShutdownPacesCloses: Shutdown with 1,000 live connections and a 2 s
// window closes them spread over the window, the k-th close in the k-th
// slot, then returns with nothing left. It runs in a synctest bubble over
// net.Pipe connections (ServeConn, and a backend dialed through
// Pool.DialContext), so the times are exact, not a guess at a busy
// machine's scheduler.
func TestShutdownPacesCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := &Pool{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			proxySide, brokerSide := net.Pipe()
			go pipeBroker(brokerSide)
			return proxySide, nil
		}}
		pool.SetBackends(backendsFor("broker:1883"))
		proxy := &Proxy{Default: pool, Logger: quietLogger()}

		const n = 1000
		clients := make([]net.Conn, n)
		for i := range clients {
			client, proxySide := net.Pipe()
			clients[i] = client
			go proxy.ServeConn(proxySide)
			go client.Write(connectWire(4, fmt.Sprintf("sd-%04d", i), 0))
			ack := make([]byte, 4)
			_, err := io.ReadFull(client, ack)
			require.NoError(t, err)
			require.Equal(t, connackOK311, ack)
		}
		synctest.Wait()

		start := time.Now()
		closedAt := make([]time.Duration, n)
		for i, client := range clients {
			go func() {
				io.Copy(io.Discard, client)
				closedAt[i] = time.Since(start)
			}()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		require.NoError(t, proxy.Shutdown(ctx))
		returned := time.Since(start)
		synctest.Wait()

		// The window is 2 s less a tenth: 1.8 s, so a slot is 1.8 ms and
		// the k-th close (in time order) lands in slot k.
		const slot = 1800 * time.Millisecond / n
		sort.Slice(closedAt, func(i, j int) bool { return closedAt[i] < closedAt[j] })
		for k, at := range closedAt {
			if !assert.True(t, at >= time.Duration(k)*slot && at <= time.Duration(k+1)*slot,
				"close %d at %v, outside its slot [%v, %v]", k, at, time.Duration(k)*slot, time.Duration(k+1)*slot) {
				break
			}
		}
		assert.LessOrEqual(t, returned, 2*time.Second)
		t.Logf("closes: first %v, median %v, last %v; Shutdown returned after %v",
			closedAt[0], closedAt[n/2], closedAt[n-1], returned)
	})
}

// pipeBroker answers one CONNECT with a 3.1.1 CONNACK and then reads
// until the connection ends, like a broker that never speaks first.
func pipeBroker(conn net.Conn) {
	defer conn.Close()
	c, _, err := ReadConnect(conn, time.Minute, 0)
	if err != nil {
		return
	}
	c.Release()
	conn.Write(connackOK311)
	io.Copy(io.Discard, conn)
}

// TestIdleTimeoutForClientsWithoutKeepAlive: a client whose CONNECT says
// keep-alive 0 has no MQTT limit on its silence; Proxy.IdleTimeout gives
// one, and without it such a client is never cut. Fake time in a synctest
// bubble, over net.Pipe, so the limits are exact.
func TestIdleTimeoutForClientsWithoutKeepAlive(t *testing.T) {
	silentClient := func(t *testing.T, idle time.Duration) net.Conn {
		pool := &Pool{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			proxySide, brokerSide := net.Pipe()
			go pipeBroker(brokerSide)
			return proxySide, nil
		}}
		pool.SetBackends(backendsFor("broker:1883"))
		proxy := &Proxy{Default: pool, IdleTimeout: idle, Logger: quietLogger()}
		t.Cleanup(func() { proxy.Close() })
		client, proxySide := net.Pipe()
		t.Cleanup(func() { client.Close() })
		go proxy.ServeConn(proxySide)
		go client.Write(connectWire(4, "no-keepalive", 0))
		ack := make([]byte, 4)
		_, err := io.ReadFull(client, ack)
		require.NoError(t, err)
		require.Equal(t, connackOK311, ack)
		return client
	}

	t.Run("cut after IdleTimeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			client := silentClient(t, 10*time.Second)
			start := time.Now()
			_, err := io.Copy(io.Discard, client)
			require.NoError(t, err)
			assert.Equal(t, 10*time.Second, time.Since(start).Round(time.Second))
		})
	})
	t.Run("never cut without IdleTimeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			client := silentClient(t, 0)
			time.Sleep(time.Hour)
			synctest.Wait()
			client.SetReadDeadline(time.Now().Add(time.Millisecond))
			_, err := client.Read(make([]byte, 1))
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded, "still connected after an hour of silence")
		})
	})
}
