package haproxyrun

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// TestHiveMQHealthConfig runs the HiveMQ Health API configuration: three
// nodes on 127.0.0.1-3, each with its readiness endpoint on one common
// port (8889 in the blog), checked with option httpchk. A node whose
// readiness answers 503 is taken out of the balancing and comes back on
// 200, with HAProxy's default inter 2s, fall 3 and rise 2.
func TestHiveMQHealthConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	c := startCluster(t, cluster.Config{
		MQTTAddrs:   []string{"127.0.0.1:0", "127.0.0.2:0", "127.0.0.3:0"},
		HealthAddrs: []string{"127.0.0.1:" + port, "127.0.0.2:" + port, "127.0.0.3:" + port},
	})
	nodes := c.Nodes()
	r := startRunner(t, seedConfig(t, "hivemq-health.cfg",
		"127.0.0.1:11883", nodes[0].Addr(), "127.0.0.2:11883", nodes[1].Addr(), "127.0.0.3:11883", nodes[2].Addr(),
		"port 8889", "port "+port, "127.0.0.1:1883", "127.0.0.1:0", "127.0.0.1:8404", "127.0.0.2:0"))
	addr := boundAddr(t, r, "127.0.0.1:0")
	pool := r.Pool("mqtt_backend")
	require.NotNil(t, pool)

	pubSub(t, addr, "hivemq")

	counts, _ := placeClients(t, nodes, addr, "", "before", 9)
	assert.Equal(t, map[string]int{"node1": 3, "node2": 3, "node3": 3}, counts)

	liveOnNode2 := nodes[1].Clients()
	nodes[1].SetReady(false)
	testnet.WaitFor(t, 15*time.Second, func() bool { _, down, _ := pool.BackendState("hivemq2"); return down }, "readiness 503 to take hivemq2 out")
	counts, _ = placeClients(t, nodes, addr, "", "unready", 9)
	assert.Zero(t, counts["node2"], "no new client on the unready node: %v", counts)
	assert.Equal(t, liveOnNode2, nodes[1].Clients(), "the unready node's live clients stay, as in HAProxy")

	nodes[1].SetReady(true)
	testnet.WaitFor(t, 15*time.Second, func() bool { _, down, _ := pool.BackendState("hivemq2"); return !down }, "readiness 200 to bring hivemq2 back")
	counts, _ = placeClients(t, nodes, addr, "", "ready", 9)
	assert.Positive(t, counts["node2"], "the node takes clients again: %v", counts)
}
