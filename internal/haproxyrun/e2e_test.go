package haproxyrun

import (
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// emqxAddrs replaces the broker and bind addresses of the EMQX seeds.
func emqxAddrs(c *cluster.Cluster, binds ...string) []string {
	addrs := c.Addrs()
	oldNew := []string{"127.0.0.1:11883", addrs[0], "127.0.0.1:11884", addrs[1], "127.0.0.1:11885", addrs[2]}
	return append(oldNew, binds...)
}

// pubSub subscribes one client and publishes from another, both through
// addr, and checks that the message arrives.
func pubSub(t *testing.T, addr, prefix string) {
	t.Helper()
	client := func(id string) paho311.Client {
		opts := paho311.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(prefix + id).
			SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
		return testnet.Connect311(t, opts)
	}
	got := make(chan string, 1)
	sub := client("-sub")
	tok := sub.Subscribe("demo/#", 1, func(_ paho311.Client, m paho311.Message) {
		select {
		case got <- m.Topic() + " " + string(m.Payload()):
		default:
		}
	})
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	pub := client("-pub")
	tok = pub.Publish("demo/hello", 1, false, "through "+prefix)
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	select {
	case m := <-got:
		assert.Equal(t, "demo/hello through "+prefix, m)
	case <-time.After(5 * time.Second):
		t.Fatal("the subscriber got nothing")
	}
}

// TestEMQXStickyConfig runs the EMQX guide's basic configuration (stick
// table on the client ID, non-MQTT rejected) against three joined
// brokers.
func TestEMQXStickyConfig(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	nodes := c.Nodes()
	r := startRunner(t, seedConfig(t, "emqx-sticky.cfg", emqxAddrs(c, "127.0.0.1:1883", "127.0.0.1:0", "127.0.0.1:8888", "127.0.0.2:0")...))
	addr := boundAddr(t, r, "127.0.0.1:0")

	t.Run("pub/sub", func(t *testing.T) { pubSub(t, addr, "emqx") })

	t.Run("an HTTP request is closed unanswered", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = conn.Write([]byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"))
		require.NoError(t, err)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		answer, err := io.ReadAll(conn)
		assert.NoError(t, err, "the proxy closes the connection (EOF), it does not leave it hanging")
		assert.Empty(t, answer, "no byte goes back to a non-MQTT client")
	})

	t.Run("100 reconnecting clients stay on their broker", func(t *testing.T) {
		const n = 100
		ids := make([]string, n)
		first := map[string]string{}
		var conns []net.Conn
		for i := range ids {
			ids[i] = fmt.Sprintf("emqx-sticky-%03d", i)
			conns = append(conns, mqttConnect(t, addr, "", ids[i], false))
			first[ids[i]] = holder(t, nodes, ids[i])
		}
		perNode := map[string]int{}
		for _, node := range first {
			perNode[node]++
		}
		assert.Len(t, perNode, 3, "round robin spreads the first connections: %v", perNode)
		for _, conn := range conns {
			conn.Close()
		}
		for _, id := range ids {
			testnet.WaitFor(t, 5*time.Second, func() bool { return nodeHolding(nodes, id) == "" }, id+" gone")
		}
		// Reconnect in the reverse order, twice: round robin alone would
		// put most clients elsewhere.
		for round := range 2 {
			for _, id := range slices.Backward(ids) {
				conn := mqttConnect(t, addr, "", id, false)
				assert.Equal(t, first[id], holder(t, nodes, id), "round %d: %s", round, id)
				conn.Close()
				testnet.WaitFor(t, 5*time.Second, func() bool { return nodeHolding(nodes, id) == "" }, id+" gone")
			}
		}
	})
}
