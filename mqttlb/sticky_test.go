package mqttlb

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/sticky"
)

// persistentConnect311 is a 3.1.1 CONNECT with Clean Session 0: the
// broker keeps the session, so the client must come back to it.
func persistentConnect311(id string) []byte {
	w := connectWire(4, id, 60)
	w[9] = 0x00 // connect flags: no clean session
	return w
}

// placement connects each client ID once through the proxy (CONNECT,
// CONNACK, DISCONNECT) and returns the backend each one was relayed to.
func placement(t *testing.T, addr string, events *eventLog, ids []string) map[string]string {
	t.Helper()
	out, _ := placementWithSession(t, addr, events, ids, 16)
	return out
}

// placementWithSession is placement that also returns, per client ID,
// whether the broker's CONNACK said it resumed a session.
func placementWithSession(t *testing.T, addr string, events *eventLog, ids []string, concurrency int) (map[string]string, map[string]bool) {
	t.Helper()
	var mu sync.Mutex
	resumed := make(map[string]bool, len(ids))
	before := len(events.all())
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conn, err := net.Dial("tcp", addr)
			if !assert.NoError(t, err) {
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			conn.Write(persistentConnect311(id))
			ack := make([]byte, 4)
			if _, err := io.ReadFull(conn, ack); assert.NoError(t, err, id) {
				// CONNACK, accepted; byte 2 is Session Present.
				assert.Equal(t, []byte{0x20, 2, 0x00}, []byte{ack[0], ack[1], ack[3]}, id)
				mu.Lock()
				resumed[id] = ack[2] == 1
				mu.Unlock()
			}
			conn.Write([]byte{0xE0, 0x00}) // DISCONNECT
			io.Copy(io.Discard, conn)
		})
	}
	wg.Wait()
	testnet.WaitFor(t, 10*time.Second, func() bool { return len(events.all()) >= before+len(ids) }, "connection events")
	out := make(map[string]string, len(ids))
	for _, ev := range events.all()[before:] {
		out[ev.ClientID] = ev.Backend
	}
	return out, resumed
}

func clientIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("device-%04d-with-a-long-shared-prefix-%d", i, i*7919)
	}
	return ids
}

func TestStickinessAcrossReconnects(t *testing.T) {
	for _, tc := range []struct {
		name string
		pool *Pool
		// back says whether clients moved off a dead node return to it
		// when it is back: a hash places by the backend set, the table
		// by where the session is now.
		back bool
		// concurrency of the reconnects. The hash's load bound, (1+ε) ×
		// the average live connections, is tight while only a handful
		// are live, so a burst of simultaneous connects may move some
		// clients: by design, the bound wins over placement then. One
		// at a time it never binds.
		concurrency int
	}{
		{"table", &Pool{Balancer: balance.LeastConn{}, Sticky: &sticky.Table{}}, false, 16},
		{"clientidhash", &Pool{Balancer: balance.ClientIDHash{}}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, 3)
			pool := tc.pool
			pool.FailWindow = 100 * time.Millisecond
			pool.SetBackends(backendsFor(c.Addrs()...))
			events := newEventLog()
			addr := startProxy(t, &Proxy{Default: pool, OnConn: events.add})
			ids := clientIDs(300)

			place := func() map[string]string {
				out, _ := placementWithSession(t, addr, events, ids, tc.concurrency)
				return out
			}
			first := place()
			perNode := map[string]int{}
			for _, b := range first {
				perNode[b]++
			}
			assert.Len(t, perNode, 3, "clients spread over all nodes: %v", perNode)
			for round := range 3 {
				again, resumed := placementWithSession(t, addr, events, ids, tc.concurrency)
				for _, id := range ids {
					assert.Equal(t, first[id], again[id], "round %d: %s", round, id)
					assert.True(t, resumed[id], "round %d: the broker resumed %s's session", round, id)
				}
			}

			// Kill node1: its clients move, the others stay.
			victim := c.Nodes()[0]
			require.NoError(t, victim.Stop())
			moved := place()
			for _, id := range ids {
				if first[id] == "node1" {
					assert.NotEqual(t, "node1", moved[id], id)
					assert.NotEmpty(t, moved[id], id)
				} else {
					assert.Equal(t, first[id], moved[id], id)
				}
			}

			// node1 returns; past the fail window it is usable again.
			require.NoError(t, victim.Start())
			time.Sleep(150 * time.Millisecond)
			after := place()
			for _, id := range ids {
				if tc.back {
					assert.Equal(t, first[id], after[id], id)
				} else {
					assert.Equal(t, moved[id], after[id], id)
				}
			}
		})
	}
}

func TestDuplicateClientIDGoesToTheSameBackend(t *testing.T) {
	c := startCluster(t, 3)
	pool := &Pool{Balancer: balance.RoundRobin{}}
	pool.SetBackends(backendsFor(c.Addrs()...))
	events := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, OnConn: events.add})

	first, ack := rawConnect(t, addr, connectWire(4, "twin", 60))
	require.Equal(t, connackOK311, ack)
	node := ""
	testnet.WaitFor(t, 5*time.Second, func() bool { node = nodeHolding(c.Nodes(), "twin"); return node != "" }, "twin on a node")

	// Round robin would send the next client elsewhere; the duplicate
	// goes where the first one is, and the broker takes it over.
	second, ack := rawConnect(t, addr, connectWire(4, "twin", 60))
	require.Equal(t, connackOK311, ack)
	first.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, first)
	assert.NoError(t, err, "the broker closed the first connection (session taken over)")
	assert.Equal(t, node, nodeHolding(c.Nodes(), "twin"))
	second.Close()

	testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == 2 }, "two events")
	evs := events.all()
	assert.Equal(t, evs[0].Backend, evs[1].Backend)
	assert.Equal(t, uint64(1), pool.Counters().DuplicateClientIDs)
	dup := 0
	for _, ev := range evs {
		dup += ev.Duplicates
	}
	assert.Equal(t, 1, dup)
}

func TestDrainedBackendKeepsItsStickyClients(t *testing.T) {
	c := startCluster(t, 2)
	pool := &Pool{Balancer: balance.RoundRobin{}, Sticky: &sticky.Table{}}
	pool.SetBackends(backendsFor(c.Addrs()...))
	events := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, OnConn: events.add})
	ids := clientIDs(20)
	first := placement(t, addr, events, ids)

	require.True(t, pool.SetState("node1", StateDrain))
	again := placement(t, addr, events, ids)
	for _, id := range ids {
		assert.Equal(t, first[id], again[id], "sticky client %s still reaches its drained backend", id)
	}
	fresh := placement(t, addr, events, clientIDs(40)[20:])
	for id, b := range fresh {
		assert.Equal(t, "node2", b, "new client %s avoids the drained backend", id)
	}

	require.True(t, pool.SetState("node1", StateMaint))
	moved := placement(t, addr, events, ids)
	for _, id := range ids {
		assert.Equal(t, "node2", moved[id], "maintenance moves %s", id)
	}
}
