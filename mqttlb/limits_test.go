package mqttlb

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnLimiterBuckets(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	tests := []struct {
		name string
		lim  *ConnLimiter
		// steps: source, wait before, want allowed
		steps []limiterStep
	}{
		{"per source burst then refill", &ConnLimiter{PerSource: 10, PerSourceBurst: 2}, []limiterStep{
			{a, 0, true}, {a, 0, true}, {a, 0, false},
			{b, 0, true}, // another source has its own bucket
			{a, 100 * time.Millisecond, true}, {a, 0, false},
		}},
		{"default burst is one second", &ConnLimiter{PerSource: 3}, []limiterStep{
			{a, 0, true}, {a, 0, true}, {a, 0, true}, {a, 0, false},
		}},
		{"total across sources", &ConnLimiter{Total: 2, TotalBurst: 2}, []limiterStep{
			{a, 0, true}, {b, 0, true}, {a, 0, false}, {b, 0, false},
			{b, 500 * time.Millisecond, true},
		}},
		{"refused source does not drain total", &ConnLimiter{PerSource: 1, PerSourceBurst: 1, Total: 2, TotalBurst: 2}, []limiterStep{
			{a, 0, true}, {a, 0, false}, {a, 0, false}, {b, 0, true},
		}},
		{"IPv6 counted per /64", &ConnLimiter{PerSource: 1, PerSourceBurst: 1}, []limiterStep{
			{netip.MustParseAddr("2001:db8::1"), 0, true},
			{netip.MustParseAddr("2001:db8::ffff:2"), 0, false},
			{netip.MustParseAddr("2001:db8:0:1::1"), 0, true},
		}},
		{"mapped IPv4 is IPv4", &ConnLimiter{PerSource: 1, PerSourceBurst: 1}, []limiterStep{
			{a, 0, true}, {netip.MustParseAddr("::ffff:192.0.2.1"), 0, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				for i, s := range tt.steps {
					time.Sleep(s.wait)
					err := tt.lim.Allow(s.src)
					if s.allowed {
						assert.NoError(t, err, "step %d", i)
					} else {
						assert.ErrorIs(t, err, ErrQuotaExceeded, "step %d", i)
					}
				}
			})
		})
	}
}

type limiterStep struct {
	src     netip.Addr
	wait    time.Duration
	allowed bool
}

func TestConnLimiterBoundsTrackedSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := &ConnLimiter{PerSource: 1, MaxSources: 256}
		for i := range 10_000 {
			require.NoError(t, lim.Allow(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})))
		}
		assert.LessOrEqual(t, lim.Sources(), 256)
		time.Sleep(2 * time.Second)
		// Refilled buckets are forgotten first when room is needed.
		require.NoError(t, lim.Allow(netip.MustParseAddr("192.0.2.7")))
		assert.Less(t, lim.Sources(), 256)
	})
}

func BenchmarkConnLimiterAllow(b *testing.B) {
	lim := &ConnLimiter{PerSource: 1e9, Total: 1e12}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var i uint32
		for pb.Next() {
			i++
			if err := lim.Allow(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// holdingBackend answers each CONNECT with a 3.1.1 CONNACK and keeps the
// connection until the proxy closes it.
func holdingBackend(t testing.TB) string {
	return rawBackend(t, func(conn net.Conn) { io.Copy(io.Discard, conn) })
}

// dialFrom connects to addr from the given loopback source address.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// connectAndRead sends wire and reads the first answer, up to 64 bytes;
// nil when the proxy closed without one.
func connectAndRead(conn net.Conn, wire []byte, wait time.Duration) ([]byte, error) {
	if _, err := conn.Write(wire); err != nil {
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if n == 0 && errors.Is(err, io.EOF) {
		return nil, nil
	}
	return buf[:n], err
}

// TestFloodFromOneAddressDoesNotStarveOthers: 127.0.0.2 opens 5,000
// connections as fast as the machine allows, paced at most 5,000/s,
// while 127.0.0.3 connects 100 times; every connection of 127.0.0.3 is
// served, and the flood gets CONNACK 0x97 (MQTT 5) or 0x03 (3.1.1) once
// over its per-source rate.
func TestFloodFromOneAddressDoesNotStarveOthers(t *testing.T) {
	backend := holdingBackend(t)
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(backend))
	events := newEventLog()
	lim := &ConnLimiter{PerSource: 100, PerSourceBurst: 50, Total: 20_000}
	addr := startProxy(t, &Proxy{Default: pool, Limiter: lim, OnConn: events.add})

	const floodCount, floodRate, floodWorkers = 5000, 5000, 32
	var floodServed, floodQuota, floodOther atomic.Int64
	var flood sync.WaitGroup
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	var next atomic.Int64
	for range floodWorkers {
		flood.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= floodCount || time.Now().After(deadline) {
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / floodRate)))
				version := byte(4 + i%2) // alternate 3.1.1 and 5
				conn, err := dialFrom("127.0.0.2", addr)
				if err != nil {
					floodOther.Add(1)
					continue
				}
				answer, err := connectAndRead(conn, connectWire(version, fmt.Sprintf("flood-%d", i), 60), 5*time.Second)
				conn.Close()
				switch {
				case err == nil && slices.Equal(answer, connackOK311):
					floodServed.Add(1)
				case err == nil && version == 5 && slices.Equal(answer, []byte{0x20, 3, 0, 0x97, 0}):
					floodQuota.Add(1)
				case err == nil && version == 4 && slices.Equal(answer, []byte{0x20, 2, 0, 0x03}):
					floodQuota.Add(1)
				default:
					floodOther.Add(1)
				}
			}
		})
	}

	// Meanwhile, another address connects at a modest pace.
	var latencies []time.Duration
	for i := range 100 {
		began := time.Now()
		conn, err := dialFrom("127.0.0.3", addr)
		require.NoError(t, err)
		answer, err := connectAndRead(conn, connectWire(4, fmt.Sprintf("calm-%d", i), 60), 5*time.Second)
		conn.Close()
		require.NoError(t, err, "calm client %d", i)
		require.Equal(t, connackOK311, answer, "calm client %d", i)
		latencies = append(latencies, time.Since(began))
		time.Sleep(10 * time.Millisecond)
	}
	flood.Wait()
	elapsed := time.Since(start)

	slices.Sort(latencies)
	p50, p99 := latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	sent := min(next.Load(), floodCount)
	t.Logf("flood: %d connections in %v (%.0f/s): %d served, %d refused with quota, %d other; calm: p50 %v, p99 %v, max %v",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(),
		floodServed.Load(), floodQuota.Load(), floodOther.Load(), p50, p99, latencies[len(latencies)-1])

	// The flood got its burst plus its rate over the run, no more.
	assert.LessOrEqual(t, floodServed.Load(), int64(50+100*elapsed.Seconds()+1))
	assert.Greater(t, floodQuota.Load(), sent/2)
	assert.Zero(t, floodOther.Load())
	// Every calm connection was served, each within a bound far above a
	// normal connection time.
	assert.Less(t, latencies[len(latencies)-1], 2*time.Second)
	quota := 0
	for _, ev := range events.all() {
		if RefusalReason(ev.Err) == "quota_exceeded" {
			quota++
			assert.Equal(t, netip.MustParseAddr("127.0.0.2"), ev.Remote.Addr())
		}
	}
	assert.EqualValues(t, floodQuota.Load(), quota)
}
