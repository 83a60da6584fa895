package mqttlb

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSetRoutingWhileServing swaps the routing table back and forth while
// clients connect: every client lands on the pool of the table in force
// when it was routed, the live connections of the old table stay up, and
// the race detector sees no conflicting access.
func TestSetRoutingWhileServing(t *testing.T) {
	c := startCluster(t, 2)
	nodes := c.Nodes()
	poolA := &Pool{Name: "a", Logger: quietLogger()}
	poolA.SetBackends(backendsFor(nodes[0].Addr()))
	poolB := &Pool{Name: "b", Logger: quietLogger()}
	poolB.SetBackends(backendsFor(nodes[1].Addr()))
	events := newEventLog()
	p := &Proxy{Default: poolA, OnConn: events.add}
	addr := startProxy(t, p)

	first, answer := rawConnect(t, addr, connectWire(4, "before-swap", 60))
	require.Equal(t, connackOK311, answer)
	require.Equal(t, "node1", nodeHolding(nodes, "before-swap"))

	p.SetRouting([]Route{{Name: "sensors", Match: ClientIDPrefix("sensor-"), Pool: poolA}}, poolB)
	_, answer = rawConnect(t, addr, connectWire(4, "sensor-1", 60))
	require.Equal(t, connackOK311, answer)
	_, answer = rawConnect(t, addr, connectWire(4, "other-1", 60))
	require.Equal(t, connackOK311, answer)
	assert.Equal(t, "node1", nodeHolding(nodes, "sensor-1"), "the new route")
	assert.Equal(t, "node2", nodeHolding(nodes, "other-1"), "the new default pool")
	assert.Equal(t, "node1", nodeHolding(nodes, "before-swap"), "a live connection stays where it was")

	// Swap concurrently with connecting clients.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				p.SetRouting(nil, poolA)
			} else {
				p.SetRouting(nil, poolB)
			}
			time.Sleep(time.Millisecond)
		}
	})
	for i := range 20 {
		conn, answer := rawConnect(t, addr, connectWire(4, "swap-"+string(rune('a'+i)), 60))
		assert.Equal(t, connackOK311, answer)
		conn.Close()
	}
	close(stop)
	wg.Wait()

	_, err := first.Write([]byte{0xC0, 0}) // PINGREQ on the first connection
	require.NoError(t, err)
	first.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	_, err = first.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xD0, 0}, buf, "PINGRESP through the connection made before every swap")
	for _, ev := range events.all() {
		assert.NotEqual(t, "refused", ev.End, "%+v", ev)
	}
}

// TestSetRoutingStats: after SetRouting, Stats and Pools report the new
// routes and pools.
func TestSetRoutingStats(t *testing.T) {
	poolA, poolB := &Pool{Name: "a"}, &Pool{Name: "b"}
	p := &Proxy{Default: poolA}
	assert.Equal(t, []*Pool{poolA}, p.Pools())
	p.SetRouting([]Route{{Name: "sensors", Match: ClientIDPrefix("sensor-"), Pool: poolB}}, poolA)
	assert.Equal(t, []*Pool{poolB, poolA}, p.Pools())
	var names []string
	for _, r := range p.Stats().Routes {
		names = append(names, r.Name)
	}
	assert.Equal(t, []string{"sensors", "default"}, names)
	p.Close()
}
