package haproxyrun

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/mosquitto"
)

// TestQiitaConfig runs the Qiita article's listen section (leastconn over
// two brokers, TCP checks) with its stats section next to it.
func TestQiitaConfig(t *testing.T) {
	c := startCluster(t, cluster.Config{Nodes: 2})
	nodes := c.Nodes()
	r := startRunner(t, seedConfig(t, "qiita.cfg",
		"127.0.0.1:11883", nodes[0].Addr(), "127.0.0.1:11884", nodes[1].Addr(),
		"127.0.0.1:1883", "127.0.0.1:0", "127.0.0.1:1936", "127.0.0.2:0"))
	addr := boundAddr(t, r, "127.0.0.1:0")

	pubSub(t, addr, "qiita")
	before := map[string]int{"node1": nodes[0].Clients(), "node2": nodes[1].Clients()}
	counts, _ := placeClients(t, nodes, addr, "", "qiita", 10)
	assert.Equal(t, 12, before["node1"]+counts["node1"]+before["node2"]+counts["node2"])
	assert.Equal(t, before["node1"]+counts["node1"], before["node2"]+counts["node2"], "leastconn evens out the nodes")
}

// TestMosquittoConfig runs the Mosquitto blog's configuration against two
// real Mosquitto brokers: two binds, leastconn, redispatch when a broker
// dies, and dials from a source port range.
func TestMosquittoConfig(t *testing.T) {
	b1 := mosquitto.Start(t, mosquitto.Config{})
	b2 := mosquitto.Start(t, mosquitto.Config{})
	r := startRunner(t, seedConfig(t, "mosquitto.cfg",
		"127.0.0.1:11883", b1.Addr(), "127.0.0.1:11884", b2.Addr(),
		"127.0.0.1:1883", "127.0.0.1:0", "127.0.0.1:1884", "127.0.0.2:0", "127.0.0.1:1936", "127.0.0.3:0"))
	first, second := boundAddr(t, r, "127.0.0.1:0"), boundAddr(t, r, "127.0.0.2:0")
	pool := r.Pool("mqtt")
	backends := pool.Backends()

	mqttConnect(t, first, "", "mosq-a", true)
	mqttConnect(t, second, "", "mosq-b", true)
	mqttConnect(t, first, "", "mosq-c", true)
	mqttConnect(t, second, "", "mosq-d", true)
	assert.Equal(t, int64(2), backends[0].Active(), "leastconn over both binds")
	assert.Equal(t, int64(2), backends[1].Active())

	// serv1 dies: new clients are redispatched to serv2 at once, before
	// the health check has noticed.
	b1.Kill()
	for _, id := range []string{"mosq-e", "mosq-f", "mosq-g"} {
		mqttConnect(t, first, "", id, true)
	}
	assert.Equal(t, int64(5), backends[1].Active())
	pubSub(t, second, "mosquitto")
}

// TestSourceRange dials a server from the "source" of its server line:
// the given address, on a port of the given range.
func TestSourceRange(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dial := sourceDialer(map[string]string{ln.Addr().String(): "127.0.0.1:41000-41009"})
	for range 5 {
		c, err := dial(context.Background(), "tcp", ln.Addr().String())
		require.NoError(t, err)
		peer, err := ln.Accept()
		require.NoError(t, err)
		remote := peer.RemoteAddr().(*net.TCPAddr)
		assert.Equal(t, "127.0.0.1", remote.IP.String())
		assert.GreaterOrEqual(t, remote.Port, 41000)
		assert.LessOrEqual(t, remote.Port, 41009)
		peer.Close()
		c.Close()
	}

	other, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer other.Close()
	c, err := dial(context.Background(), "tcp", other.Addr().String())
	require.NoError(t, err, "a server without source dials as usual")
	c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = sourceDialer(map[string]string{"127.0.0.1:1": "192.0.2.1"})(ctx, "tcp", "127.0.0.1:1")
	assert.Error(t, err, "a source address the host does not have cannot be bound")
}

// TestUseBackendRoutes routes on the client ID and the user name, and
// refuses a client ID a content rule rejects with an MQTT answer.
func TestUseBackendRoutes(t *testing.T) {
	c := startCluster(t, cluster.Config{Nodes: 2})
	nodes := c.Nodes()
	r := startRunner(t, writeTemp(t, `frontend mqtt
  bind 127.0.0.1:0
  tcp-request inspect-delay 5s
  tcp-request content reject if { req.payload(0,0),mqtt_field_value(connect,client_identifier) -m beg banned- }
  use_backend sensors if { req.payload(0,0),mqtt_field_value(connect,client_identifier) -m beg sensor- }
  default_backend others
backend sensors
  server n1 `+nodes[0].Addr()+`
backend others
  server n2 `+nodes[1].Addr()+`
`))
	addr := boundAddr(t, r, "127.0.0.1:0")
	for _, id := range []string{"sensor-1", "sensor-2", "phone-1", "Sensor-3"} {
		mqttConnect(t, addr, "", id, true)
	}
	assert.Equal(t, "node1", holder(t, nodes, "sensor-1"))
	assert.Equal(t, "node1", holder(t, nodes, "sensor-2"))
	assert.Equal(t, "node2", holder(t, nodes, "phone-1"))
	assert.Equal(t, "node2", holder(t, nodes, "Sensor-3"), "-m beg is case sensitive")

	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(connectWire("banned-1", true))
	require.NoError(t, err)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer := make([]byte, 4)
	_, err = io.ReadFull(conn, answer)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x20, 2, 0, 3}, answer, "CONNACK 3.1.1 server unavailable")
}
