package mqttlb

import (
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// soakDuration is the length of TestSoak. The default keeps it a short
// smoke run for CI; the soak proper is
//
//	go test -run '^TestSoak$' -timeout 20m -v ./mqttlb -soak 10m
var soakDuration = flag.Duration("soak", 3*time.Second, "how long TestSoak runs")

// soakSample is the process's state at one point of the soak.
type soakSample struct {
	at         time.Duration
	heap       uint64 // live heap after a GC, bytes
	goroutines int
	open       int64
}

func takeSoakSample(start time.Time, p *Proxy) soakSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return soakSample{at: time.Since(start).Round(100 * time.Millisecond), heap: ms.HeapAlloc,
		goroutines: runtime.NumGoroutine(), open: p.OpenConns()}
}

// TestSoak runs churn (clients connecting, publishing and leaving),
// steady pub/sub, garbage and health flapping against three brokers for
// -soak, sampling heap and goroutines; both must stay flat, and the
// goroutines return to their idle count once the load stops.
func TestSoak(t *testing.T) {
	c := startCluster(t, 3)
	pool := &Pool{Name: "soak", ConnackTimeout: 2 * time.Second, FailWindow: 100 * time.Millisecond, Logger: quietLogger()}
	backends := backendsFor(c.Addrs()...)
	pool.SetBackends(backends)
	p := &Proxy{Default: pool, Limiter: &ConnLimiter{PerSource: 5000, Total: 10_000}, MaxConn: 5000}
	addr := startProxy(t, p)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var churned, churnFailed, published, delivered atomic.Int64

	// Steady pub/sub: 4 subscribers on one topic, 4 publishers at 25 msg/s
	// each.
	for i := range 4 {
		sub := v311Client(t, addr, fmt.Sprintf("soak-sub-%d", i))
		tok := sub.Subscribe("soak/steady", 0, func(paho311.Client, paho311.Message) { delivered.Add(1) })
		require.True(t, tok.WaitTimeout(5*time.Second))
		require.NoError(t, tok.Error())
	}
	for i := range 4 {
		pub := v311Client(t, addr, fmt.Sprintf("soak-pub-%d", i))
		wg.Go(func() {
			everyUntil(stop, 40*time.Millisecond, func() bool {
				if pub.Publish("soak/steady", 0, false, "tick").WaitTimeout(time.Second) {
					published.Add(1)
				}
				return true
			})
		})
	}
	runtime.GC()
	idleGoroutines := runtime.NumGoroutine() // with the pub/sub clients connected
	// Churn: 16 workers connecting, publishing once and leaving; one in
	// 50 connections sends garbage instead.
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if soakChurnOnce(addr, fmt.Sprintf("churn-%d-%d", w, i), i%50 == 49) {
					churned.Add(1)
				} else {
					churnFailed.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	// Health flapping: every 300 ms one backend goes down, then up.
	wg.Go(func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				pool.SetHealthy(c.Addrs())
				return
			case <-tick.C:
			}
			healthy := c.Addrs()
			if i%2 == 0 {
				healthy = append(healthy[:i/2%3:i/2%3], healthy[i/2%3+1:]...)
			}
			pool.SetHealthy(healthy)
		}
	})

	start := time.Now()
	every := max(*soakDuration/10, 250*time.Millisecond)
	var samples []soakSample
	for time.Since(start) < *soakDuration {
		time.Sleep(every)
		samples = append(samples, takeSoakSample(start, p))
	}
	close(stop)
	wg.Wait()

	for _, s := range samples {
		t.Logf("t=%-5v heap %6.1f MiB  goroutines %5d  open connections %4d", s.at, float64(s.heap)/(1<<20), s.goroutines, s.open)
	}
	t.Logf("churn: %d connections (%d failed); pub/sub: %d published, %d delivered",
		churned.Load(), churnFailed.Load(), published.Load(), delivered.Load())
	require.GreaterOrEqual(t, len(samples), 6)
	assert.Positive(t, churned.Load())
	assert.Positive(t, delivered.Load())
	assert.LessOrEqual(t, churnFailed.Load(), churned.Load()/100, "more than 1% of churn connections failed")

	// Flat: the last samples against the early ones, after warm-up.
	early, late := samples[1:4], samples[len(samples)-3:]
	meanHeap := func(s []soakSample) (sum uint64) {
		for _, x := range s {
			sum += x.heap
		}
		return sum / uint64(len(s))
	}
	meanG := func(s []soakSample) (sum int) {
		for _, x := range s {
			sum += x.goroutines
		}
		return sum / len(s)
	}
	assert.Less(t, meanHeap(late), meanHeap(early)*3/2+4<<20, "heap grew")
	assert.Less(t, meanG(late), meanG(early)*6/5+50, "goroutines grew")

	// Idle again: the churn has ended; the pub/sub clients remain, and
	// the handshake workers kept for the next connections, at most
	// maxIdleWorkers.
	kept := func() int { return int(p.workers.idle.Load()) }
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > idleGoroutines+kept()+10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("goroutines: %d before the churn, %d after it, %d of them kept handshake workers", idleGoroutines, runtime.NumGoroutine(), kept())
	assert.LessOrEqual(t, kept(), maxIdleWorkers)
	assert.LessOrEqual(t, runtime.NumGoroutine(), idleGoroutines+kept()+10, "goroutines left behind by the churn")
}

// soakChurnOnce opens one connection through the proxy: a CONNECT, a
// QoS 0 PUBLISH and a DISCONNECT, or garbage. It reports whether the
// proxy answered as it should.
func soakChurnOnce(addr, id string, garbage bool) bool {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if garbage {
		conn.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
		_, err := io.ReadAll(conn)
		return err == nil // closed without an answer
	}
	if _, err := conn.Write(connectWire(4, id, 30)); err != nil {
		return false
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[3] != 0 {
		return false
	}
	// PUBLISH QoS 0 "soak/churn" "x", then DISCONNECT (§3.3, §3.14).
	msg := []byte{0x30, 13, 0, 10, 's', 'o', 'a', 'k', '/', 'c', 'h', 'u', 'r', 'n', 'x', 0xE0, 0}
	_, err = conn.Write(msg)
	return err == nil
}

// everyUntil calls step every period until stop is closed or step
// returns false.
func everyUntil(stop <-chan struct{}, period time.Duration, step func() bool) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if !step() {
			return
		}
	}
}
