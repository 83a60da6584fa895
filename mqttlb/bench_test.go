package mqttlb

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
)

// disconnectWire is an MQTT DISCONNECT (3.1.1 §3.14, 5.0 §3.14 with
// reason code 0 left out).
var disconnectWire = []byte{0xe0, 0x00}

// churnOnce runs one client lifetime the way shared/bench's churn test
// does: dial, CONNECT, wait for the CONNACK, DISCONNECT, close.
func churnOnce(tb testing.TB, addr string, wire []byte, ack []byte) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(wire); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadFull(c, ack); err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Write(disconnectWire); err != nil {
		tb.Fatal(err)
	}
}

// drainUntilEOF is a backend session that reads until the client leaves.
func drainUntilEOF(conn net.Conn) { io.Copy(io.Discard, conn) }

// BenchmarkChurn measures one whole proxied client lifetime (accept,
// CONNECT read, pick, dial, relay, DISCONNECT, teardown), the unit of
// shared/bench's churn test. allocs/op counts the client and the stand-in
// broker too: subtract BenchmarkChurnDirect's for the proxy's share.
func BenchmarkChurn(b *testing.B) {
	pool := &Pool{Name: "bench"}
	pool.SetBackends(backendsFor(rawBackend(b, drainUntilEOF)))
	addr := startProxy(b, &Proxy{Default: pool})
	wire := connectWire(4, "bench-00000000", 0)
	ack := make([]byte, len(connackOK311))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// A client ID of its own for each connection, as in the bench
		// harness: a repeated one would be a duplicate while the last
		// connection's teardown is still under way.
		numberID(wire, i)
		churnOnce(b, addr, wire, ack)
	}
}

// numberID writes i into the last eight bytes of the CONNECT's client ID.
func numberID(wire []byte, i int) {
	for j := len(wire) - 1; j >= len(wire)-8; j-- {
		wire[j] = byte('0' + i%10)
		i /= 10
	}
}

// BenchmarkChurnDirect is BenchmarkChurn's client against the stand-in
// broker with no proxy between: the baseline to subtract.
func BenchmarkChurnDirect(b *testing.B) {
	addr := rawBackend(b, drainUntilEOF)
	wire := connectWire(4, "bench-client", 0)
	ack := make([]byte, len(connackOK311))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		churnOnce(b, addr, wire, ack)
	}
}

func TestChurnOnceThroughProxy(t *testing.T) {
	pool := &Pool{Name: "bench"}
	pool.SetBackends(backendsFor(rawBackend(t, drainUntilEOF)))
	events := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, OnConn: events.add})
	ack := make([]byte, len(connackOK311))
	churnOnce(t, addr, connectWire(4, "once", 0), ack)
	require.Equal(t, connackOK311, ack)
	testnet.WaitFor(t, 5e9, func() bool { return len(events.all()) == 1 }, "the connection's end")
	ev := events.all()[0]
	require.Equal(t, "once", ev.ClientID)
	require.Equal(t, int64(len(connectWire(4, "once", 0))+len(disconnectWire)), ev.Up)
}

// churnAllocBudget is the most allocations a proxied connection may add
// over the same client and stand-in broker without the proxy (measured:
// 21-23 with kept handshake goroutines, 26 before; 45 through Go's net).
const churnAllocBudget = 28

// TestChurnAllocationBudget fails when the per-connection path (accept,
// CONNECT, pick, dial, relay, teardown, log line) starts allocating
// noticeably more than it does now.
func TestChurnAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items at random, so pooled buffers are allocated afresh")
	}
	backend := rawBackend(t, drainUntilEOF)
	pool := &Pool{Name: "budget"}
	pool.SetBackends(backendsFor(backend))
	proxied := startProxy(t, &Proxy{Default: pool})
	wire := connectWire(4, "budget-00000000", 0)
	ack := make([]byte, len(connackOK311))
	i := 0
	run := func(addr string) func() {
		return func() {
			i++
			numberID(wire, i)
			churnOnce(t, addr, wire, ack)
		}
	}
	direct := testing.AllocsPerRun(200, run(backend))
	through := testing.AllocsPerRun(200, run(proxied))
	t.Logf("allocations per connection: %.0f through the proxy, %.0f direct: %.0f the proxy's", through, direct, through-direct)
	assert.LessOrEqual(t, through-direct, float64(churnAllocBudget))
}
