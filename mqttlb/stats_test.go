package mqttlb

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// mqttSession connects through addr with a 3.1.1 CONNECT, does one
// PINGREQ/PINGRESP and a DISCONNECT, and returns the bytes it sent and
// received.
func mqttSession(t testing.TB, addr, clientID string) (sent, received int) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	connect := connectWire(4, clientID, 60)
	_, err = conn.Write(connect)
	require.NoError(t, err)
	ack := make([]byte, 4)
	_, err = io.ReadFull(conn, ack)
	require.NoError(t, err)
	require.Equal(t, connackOK311, ack)
	_, err = conn.Write([]byte{0xC0, 0x00}) // PINGREQ
	require.NoError(t, err)
	resp := make([]byte, 2)
	_, err = io.ReadFull(conn, resp)
	require.NoError(t, err)
	require.Equal(t, []byte{0xD0, 0x00}, resp) // PINGRESP
	_, err = conn.Write([]byte{0xE0, 0x00})    // DISCONNECT
	require.NoError(t, err)
	rest, err := io.ReadAll(conn)
	require.NoError(t, err)
	require.Empty(t, rest)
	return len(connect) + 2 + 2, 4 + 2
}

// scriptedRun is a known load: n sessions on the route "sensors" (half)
// and the default route (half), rejectsNotMQTT connections that send
// HTTP, and rejectsNoBackend clients routed to a pool with no backend.
type scriptedRun struct {
	n, rejectsNotMQTT, rejectsNoBackend int
	bytesIn, bytesOut                   int
}

func (r *scriptedRun) run(t *testing.T, addr string, events *eventLog) {
	for i := range r.n {
		id := "device-" + string(rune('a'+i))
		if i%2 == 0 {
			id = "sensor-" + string(rune('a'+i))
		}
		in, out := mqttSession(t, addr, id)
		r.bytesIn += in
		r.bytesOut += out
	}
	for range r.rejectsNotMQTT {
		_, answer := rawConnect(t, addr, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		assert.Nil(t, answer, "plain close for non-MQTT bytes")
	}
	for i := range r.rejectsNoBackend {
		_, answer := rawConnect(t, addr, connectWire(4, "lost-"+string(rune('a'+i)), 60))
		assert.Equal(t, []byte{0x20, 2, 0, 3}, answer, "server unavailable")
	}
	total := r.n + r.rejectsNotMQTT + r.rejectsNoBackend
	testnet.WaitFor(t, 10*time.Second, func() bool { return len(events.all()) == total }, "every connection's event")
}

// statsProxy is a proxy over three embedded brokers with the routes the
// scripted run uses.
func statsProxy(t *testing.T) (*Proxy, string, *eventLog) {
	c := startCluster(t, 3)
	brokers := &Pool{Name: "brokers", Balancer: balance.RoundRobin{}}
	brokers.SetBackends(backendsFor(c.Addrs()...))
	empty := &Pool{Name: "empty"}
	events := newEventLog()
	p := &Proxy{
		Routes: []Route{
			{Name: "sensors", Match: ClientIDPrefix("sensor-"), Pool: brokers},
			{Name: "lost", Match: ClientIDPrefix("lost-"), Pool: empty},
		},
		Default: brokers,
		OnConn:  events.add,
	}
	return p, startProxy(t, p), events
}

func TestStatsAddUpAfterAScriptedRun(t *testing.T) {
	p, addr, events := statsProxy(t)
	run := scriptedRun{n: 12, rejectsNotMQTT: 3, rejectsNoBackend: 2}
	run.run(t, addr, events)

	s := p.Stats()
	total := uint64(run.n + run.rejectsNotMQTT + run.rejectsNoBackend)
	assert.Equal(t, total, s.Proxy.Total)
	assert.Equal(t, int64(0), s.Proxy.Current)
	assert.GreaterOrEqual(t, s.Proxy.Max, int64(1))
	assert.NotZero(t, s.Proxy.Rate, "connections in the last second")
	assert.LessOrEqual(t, s.Proxy.Rate, total)
	assert.Equal(t, map[string]uint64{"not_mqtt": 3, "no_backend": 2}, s.Proxy.Rejects)
	assert.Equal(t, uint64(run.bytesIn), s.Proxy.BytesIn)
	assert.Equal(t, uint64(run.bytesOut), s.Proxy.BytesOut)

	var evIn, evOut int64
	for _, ev := range events.all() {
		evIn += ev.Up
		evOut += ev.Down
	}
	assert.Equal(t, int64(run.bytesIn), evIn, "the events agree")
	assert.Equal(t, int64(run.bytesOut), evOut)

	routes := map[string]RouteStats{}
	for _, r := range s.Routes {
		routes[r.Name] = r
	}
	assert.Equal(t, []string{"sensors", "lost", "default"}, []string{s.Routes[0].Name, s.Routes[1].Name, s.Routes[2].Name})
	assert.Equal(t, uint64(run.n/2), routes["sensors"].Total)
	assert.Equal(t, uint64(run.n/2), routes["default"].Total)
	assert.Equal(t, uint64(run.rejectsNoBackend), routes["lost"].Total)
	assert.Equal(t, map[string]uint64{"no_backend": 2}, routes["lost"].Rejects)
	assert.Equal(t, s.Proxy.BytesIn, routes["sensors"].BytesIn+routes["default"].BytesIn)

	require.Len(t, s.Pools, 2)
	brokers, empty := s.Pools[0], s.Pools[1]
	assert.Equal(t, "brokers", brokers.Name)
	assert.Equal(t, uint64(run.n), brokers.Total)
	assert.Equal(t, int64(0), brokers.Current)
	assert.Nil(t, brokers.Rejects)
	assert.Equal(t, s.Proxy.BytesIn, brokers.BytesIn)
	assert.Equal(t, s.Proxy.BytesOut, brokers.BytesOut)
	assert.Equal(t, map[string]uint64{"no_backend": 2}, empty.Rejects)
	assert.Empty(t, empty.Backends)

	require.Len(t, brokers.Backends, 3)
	var sumTotal, sumIn, sumOut uint64
	for _, b := range brokers.Backends {
		assert.Equal(t, StatusUp, b.Status, b.Name)
		assert.Equal(t, uint64(run.n/3), b.Total, "round robin: %s", b.Name)
		assert.Equal(t, int64(0), b.Current)
		assert.GreaterOrEqual(t, b.Max, int64(1))
		assert.Equal(t, 1, b.Weight)
		sumTotal += b.Total
		sumIn += b.BytesIn
		sumOut += b.BytesOut
	}
	assert.Equal(t, brokers.Total, sumTotal)
	assert.Equal(t, brokers.BytesIn, sumIn)
	assert.Equal(t, brokers.BytesOut, sumOut)
}

func TestBackendStatus(t *testing.T) {
	pool := &Pool{Name: "p"}
	pool.SetBackends(backendsFor("127.0.0.1:1", "127.0.0.1:2"))
	status := func() string { return pool.Stats().Backends[0].Status }
	changed := func() time.Time { return pool.Stats().Backends[0].LastChange }
	require.Equal(t, StatusUp, status())
	before := changed()
	require.True(t, before.IsZero(), "no change since the backend joined")

	for _, step := range []struct {
		name   string
		do     func()
		status string
	}{
		{"drain", func() { pool.SetState("node1", StateDrain) }, StatusDrain},
		{"drained and down", func() { pool.SetHealthy([]string{"127.0.0.1:2"}) }, StatusDown},
		{"maint wins over down", func() { pool.SetState("node1", StateMaint) }, StatusMaint},
		{"ready but down", func() { pool.SetState("node1", StateReady) }, StatusDown},
		{"up", func() { pool.SetHealthy(pool.Addrs()) }, StatusUp},
	} {
		time.Sleep(time.Millisecond)
		step.do()
		assert.Equal(t, step.status, status(), step.name)
		assert.True(t, changed().After(before), "%s: last change moves", step.name)
		before = changed()
	}
	pool.SetHealthy(pool.Addrs())
	assert.Equal(t, before, changed(), "no change, same time")
}

func TestRecordCheck(t *testing.T) {
	pool := &Pool{Name: "p"}
	pool.SetBackends(backendsFor("127.0.0.1:1", "127.0.0.1:2"))
	pool.RecordCheck("127.0.0.1:1", nil, 3*time.Millisecond)
	pool.RecordCheck("127.0.0.1:1", io.ErrUnexpectedEOF, 7*time.Millisecond)
	pool.RecordCheck("127.0.0.1:9", nil, time.Millisecond) // not in the pool

	bs := pool.Stats().Backends
	assert.Equal(t, uint64(2), bs[0].Checks)
	assert.Equal(t, uint64(1), bs[0].CheckFailures)
	assert.Equal(t, 7*time.Millisecond, bs[0].LastCheckLatency)
	assert.Equal(t, io.ErrUnexpectedEOF.Error(), bs[0].LastCheckError)
	assert.WithinDuration(t, time.Now(), bs[0].LastCheck, time.Minute)
	assert.Zero(t, bs[1].Checks)
	assert.True(t, bs[1].LastCheck.IsZero())
}

func TestRateCounter(t *testing.T) {
	sec := int64(time.Second)
	base := 1_700_000_000 * sec
	var r rateCounter
	for range 10 {
		r.add(base + sec/10)
	}
	assert.Equal(t, uint64(10), r.perSecond(base+sec/2), "within the first second")
	for range 4 {
		r.add(base + sec + sec/2)
	}
	assert.Equal(t, uint64(4+10/2), r.perSecond(base+sec+sec/2), "half into the next: 4 and half of 10")
	assert.Equal(t, uint64(4), r.perSecond(base+2*sec), "at the start of the one after: all of 4")
	assert.Zero(t, r.perSecond(base+3*sec), "two seconds later")
}

func TestRefusalReasonsAreCounted(t *testing.T) {
	for _, err := range []error{ErrNotMQTT, ErrMalformed, ErrUnsupportedVersion, ErrTooLarge, ErrConnectTimeout,
		ErrClientClosed, ErrNoBackend, ErrQuotaExceeded, &MovedError{Server: "x"}, io.EOF} {
		name := RefusalReason(err)
		assert.Equal(t, name, refusalReasons[reasonIndex(name)], "a counter of its own for %v", err)
	}
}

// TestCountersDoNotAllocate checks the promise of counters.go: the
// statistics of one connection, from accept to end, allocate nothing.
func TestCountersDoNotAllocate(t *testing.T) {
	pool := &Pool{Name: "p"}
	backends := backendsFor("127.0.0.1:1")
	pool.SetBackends(backends)
	p := &Proxy{Routes: []Route{{Name: "r", Pool: pool}}}
	start := time.Now()
	ev := ConnEvent{Route: "r", Up: 100, Down: 50, End: endClientClosed}
	u := &Upstream{Backend: backends[0]}
	allocs := testing.AllocsPerRun(100, func() {
		p.countOpened(start)
		p.countRouted("r", start)
		pool.countConnected(u)
		u.CountBytes(100, 50)
		u.countReleased()
		p.countEnded(&ev)
	})
	assert.Zero(t, allocs)
	assert.Equal(t, uint64(101*50), pool.Stats().BytesOut, "the runs were counted (one warm-up, 100 measured)")
}

func TestConnectionLogLine(t *testing.T) {
	c := startCluster(t, 1)
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(c.Addrs()...))
	var buf testnet.Buffer
	events := newEventLog()
	addr := startProxy(t, &Proxy{
		Routes: []Route{{Name: "sensors", Match: ClientIDPrefix("sensor-"), Pool: pool}},
		Logger: slog.New(slog.NewJSONHandler(&buf, nil)), OnConn: events.add,
	})
	in, out := mqttSession(t, addr, "sensor-1")
	_, answer := rawConnect(t, addr, connectWire(4, "other", 60))
	assert.Equal(t, []byte{0x20, 2, 0, 3}, answer, "no route, no default pool")
	testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == 2 }, "two ends")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2, "one line per connection")
	var closed, refused map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &closed))
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &refused))
	assert.Equal(t, "connection closed", closed["msg"])
	assert.Equal(t, "sensor-1", closed["client_id"])
	assert.Equal(t, "sensors", closed["route"])
	assert.Equal(t, "brokers", closed["pool"])
	assert.Equal(t, "node1", closed["backend"])
	assert.Equal(t, float64(in), closed["up"])
	assert.Equal(t, float64(out), closed["down"])
	// After the client's DISCONNECT the broker closes first.
	assert.Equal(t, "backend closed", closed["end"])
	assert.Equal(t, "SD", closed["term"])
	assert.NotContains(t, closed, "err", "a clean end has no error to name")
	assert.Equal(t, "connection refused", refused["msg"])
	assert.Equal(t, "default", refused["route"])
	assert.Equal(t, "no_backend", refused["reason"])
	assert.Equal(t, "SC", refused["term"])
	assert.Contains(t, refused["err"], "no backend")
}
