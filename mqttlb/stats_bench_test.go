package mqttlb

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// countOneConnection makes every counter update of one relayed
// connection, from accept to end.
func countOneConnection(p *Proxy, pool *Pool, u *Upstream, ev *ConnEvent, start time.Time) {
	p.countOpened(start)
	p.countRouted(ev.Route, start)
	pool.countConnected(u)
	u.CountBytes(ev.Up, ev.Down)
	u.countReleased()
	p.countEnded(ev)
}

// statsBench is a proxy, pool and upstream to count with, not serving.
func statsBench() (*Proxy, *Pool, *Upstream) {
	pool := &Pool{Name: "p"}
	backends := backendsFor("127.0.0.1:1")
	pool.SetBackends(backends)
	p := &Proxy{Routes: []Route{{Name: "r", Pool: pool}}}
	u := &Upstream{Backend: backends[0], member: pool.snapshot().members[0]}
	return p, pool, u
}

// BenchmarkStatsCounters measures the statistics' cost per connection:
// one goroutine, and every CPU at once on the same counters (the worst
// case for cache-line sharing).
//
//	go test -run '^$' -bench 'StatsCounters|ProxyConnections|ProxyRelay' -benchtime 2s ./mqttlb
func BenchmarkStatsCounters(b *testing.B) {
	ev := ConnEvent{Route: "r", Up: 100, Down: 50, End: endClientClosed}
	b.Run("serial", func(b *testing.B) {
		p, pool, u := statsBench()
		start := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			countOneConnection(p, pool, u, &ev, start)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		p, pool, u := statsBench()
		start := time.Now()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ev := ev
			for pb.Next() {
				countOneConnection(p, pool, u, &ev, start)
			}
		})
	})
}

// BenchmarkProxyConnections measures whole connections through the proxy
// (accept, CONNECT, dial, CONNACK, DISCONNECT, close) to a minimal
// backend, one at a time, and reports the part of each that the
// statistics' counters take: counters-% is the counters' cost, timed
// alone after the run, over the cost of a connection with them.
func BenchmarkProxyConnections(b *testing.B) {
	backend := rawBackend(b, func(conn net.Conn) { io.Copy(io.Discard, conn) })
	pool := &Pool{Name: "p", Balancer: balance.RoundRobin{}}
	pool.SetBackends(backendsFor(backend))
	addr := startProxy(b, &Proxy{Routes: []Route{{Name: "r", Pool: pool}}})
	connect := connectWire(4, "bench", 60)
	ack := make([]byte, 4)
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		conn, err := net.Dial("tcp", addr)
		require.NoError(b, err)
		_, err = conn.Write(connect)
		require.NoError(b, err)
		_, err = io.ReadFull(conn, ack)
		require.NoError(b, err)
		_, err = conn.Write([]byte{0xE0, 0})
		require.NoError(b, err)
		conn.Close()
	}
	perConn := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	testnet.WaitFor(b, 10*time.Second, func() bool { return pool.Stats().Current == 0 }, "every connection ended")

	p, cpool, u := statsBench()
	ev := ConnEvent{Route: "r", Up: 100, Down: 50, End: endClientClosed}
	const rounds = 100_000
	t0 := time.Now()
	for range rounds {
		countOneConnection(p, cpool, u, &ev, t0)
	}
	perCount := time.Since(t0) / rounds
	b.ReportMetric(100*float64(perCount)/float64(perConn), "counters-%")
	b.ReportMetric(float64(perCount), "counters-ns")
}

// BenchmarkProxyRelayThroughput pushes 16 KiB messages from a client
// through the proxy to a backend that discards them, on one connection.
// The statistics add nothing per byte (bytes are counted once, when the
// connection ends), so this is the relay's throughput with them.
func BenchmarkProxyRelayThroughput(b *testing.B) {
	backend := rawBackend(b, func(conn net.Conn) { io.Copy(io.Discard, conn) })
	pool := &Pool{Name: "p"}
	pool.SetBackends(backendsFor(backend))
	p := &Proxy{Default: pool}
	addr := startProxy(b, p)
	conn, ack := rawConnect(b, addr, connectWire(4, "bench", 0))
	require.Equal(b, connackOK311, ack)
	// A PUBLISH QoS 0 of 16 KiB to topic "t": header, then the payload.
	const size = 16 << 10
	msg := make([]byte, size)
	remaining := size - 3
	msg[0], msg[1], msg[2], msg[3], msg[4], msg[5] = 0x30, byte(remaining&0x7F|0x80), byte(remaining>>7), 0, 1, 't'
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		_, err := conn.Write(msg)
		require.NoError(b, err)
	}
	b.StopTimer()
	conn.Close()
	testnet.WaitFor(b, 10*time.Second, func() bool { return p.Stats().Proxy.Current == 0 }, "the end")
	require.GreaterOrEqual(b, p.Stats().Proxy.BytesIn, uint64(b.N)*size, "every byte counted at the end")
}
