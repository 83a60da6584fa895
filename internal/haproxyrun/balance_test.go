package haproxyrun

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// placeClients connects n clients through addr from src and returns how
// many landed on each node, keeping the connections open.
func placeClients(t *testing.T, nodes []*cluster.Node, addr, src, prefix string, n int) (map[string]int, []net.Conn) {
	t.Helper()
	counts := map[string]int{}
	var conns []net.Conn
	for i := range n {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		conns = append(conns, mqttConnect(t, addr, src, id, true))
		counts[holder(t, nodes, id)]++
	}
	return counts, conns
}

// TestEMQXBalanceConfig runs the EMQX guide's three balancing strategies
// and checks each does what HAProxy's manual says of it.
func TestEMQXBalanceConfig(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	nodes := c.Nodes()
	r := startRunner(t, seedConfig(t, "emqx-balance.cfg", emqxAddrs(c,
		"127.0.0.1:1883", "127.0.0.1:0", "127.0.0.1:1884", "127.0.0.2:0", "127.0.0.1:1885", "127.0.0.3:0")...))

	t.Run("weighted round robin shares 5:2:3", func(t *testing.T) {
		counts, conns := placeClients(t, nodes, boundAddr(t, r, "127.0.0.1:0"), "", "weighted", 50)
		assert.Equal(t, map[string]int{"node1": 25, "node2": 10, "node3": 15}, counts)
		for _, conn := range conns {
			conn.Close()
		}
	})

	t.Run("source keeps each client address on one server", func(t *testing.T) {
		addr := boundAddr(t, r, "127.0.0.2:0")
		seen := map[string]string{}
		for _, src := range []string{"127.0.0.1", "127.0.0.5", "127.0.0.9", "127.0.0.13", "127.0.0.17", "127.0.0.21"} {
			counts, conns := placeClients(t, nodes, addr, src, "source-"+src, 6)
			assert.Len(t, counts, 1, "every connection from %s on one node: %v", src, counts)
			for node := range counts {
				seen[src] = node
			}
			for _, conn := range conns {
				conn.Close()
			}
		}
		spread := map[string]bool{}
		for _, node := range seen {
			spread[node] = true
		}
		assert.Greater(t, len(spread), 1, "six client addresses all hashed to one node: %v", seen)
	})

	t.Run("leastconn fills the least loaded server", func(t *testing.T) {
		addr := boundAddr(t, r, "127.0.0.3:0")
		counts, conns := placeClients(t, nodes, addr, "", "least", 30)
		assert.Equal(t, map[string]int{"node1": 10, "node2": 10, "node3": 10}, counts)
		// Free five places on node2: the next five clients all go there.
		closed := 0
		for i, conn := range conns {
			if closed < 5 && nodeHolding(nodes, fmt.Sprintf("least-%03d", i)) == "node2" {
				conn.Close()
				closed++
				testnet.WaitFor(t, 5*time.Second, func() bool { return nodes[1].Clients() == 10-closed }, "node2 to see the close")
			}
		}
		more, _ := placeClients(t, nodes, addr, "", "least-more", 5)
		assert.Equal(t, map[string]int{"node2": 5}, more)
	})
}

// TestBackupAndWeightZero checks "backup" and "weight 0" as HAProxy's
// manual describes them: a backup server takes connections only while no
// regular server is up, and a weight-0 server takes none.
func TestBackupAndWeightZero(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	nodes := c.Nodes()
	path := writeTemp(t, fmt.Sprintf(`defaults
  mode tcp
  timeout connect 2s
backend brokers
  balance roundrobin
  default-server check inter 100ms fall 1 rise 1
  server main %s
  server idle %s weight 0
  server spare %s backup
frontend mqtt
  bind 127.0.0.1:0
  default_backend brokers
`, nodes[0].Addr(), nodes[1].Addr(), nodes[2].Addr()))
	r := startRunner(t, path)
	addr := boundAddr(t, r, "127.0.0.1:0")

	counts, _ := placeClients(t, nodes, addr, "", "primary", 10)
	assert.Equal(t, map[string]int{"node1": 10}, counts, "neither the weight-0 server nor the backup takes clients")

	require.NoError(t, nodes[0].Stop())
	pool := r.Pool("brokers")
	testnet.WaitFor(t, 5*time.Second, func() bool { _, down, _ := pool.BackendState("main"); return down }, "the check to take main down")
	counts, _ = placeClients(t, nodes, addr, "", "failover", 10)
	assert.Equal(t, map[string]int{"node3": 10}, counts, "the backup takes over; weight 0 still takes nothing")

	require.NoError(t, nodes[0].Start())
	testnet.WaitFor(t, 5*time.Second, func() bool { _, down, _ := pool.BackendState("main"); return !down }, "the check to bring main back")
	counts, _ = placeClients(t, nodes, addr, "", "back", 10)
	assert.Equal(t, map[string]int{"node1": 10}, counts, "the backup stops taking clients once main is back")
}

func writeTemp(t *testing.T, text string) string {
	t.Helper()
	path := t.TempDir() + "/haproxy.cfg"
	writeConfig(t, path, text)
	return path
}
