package cluster_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func startCluster(t *testing.T, cfg cluster.Config) *cluster.Cluster {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := cluster.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })
	return c
}

func TestStartConfig(t *testing.T) {
	tests := []struct {
		name       string
		cfg        cluster.Config
		wantNodes  int
		wantHealth []bool
	}{
		{"zero value", cluster.Config{}, 3, []bool{true, true, true}},
		{"one node", cluster.Config{Nodes: 1}, 1, []bool{true}},
		{"nodes from addrs", cluster.Config{MQTTAddrs: []string{"127.0.0.1:0", "127.0.0.1:0"}}, 2, []bool{true, true}},
		{"health disabled", cluster.Config{Nodes: 2, HealthAddrs: []string{"-", "127.0.0.1:0"}}, 2, []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCluster(t, tt.cfg)
			nodes := c.Nodes()
			require.Len(t, nodes, tt.wantNodes)
			addrs := c.Addrs()
			for i, n := range nodes {
				assert.Equal(t, fmt.Sprintf("node%d", i+1), n.Name())
				assert.Equal(t, addrs[i], n.Addr())
				assert.NotContains(t, n.Addr(), ":0", "port resolved")
				assert.Equal(t, tt.wantHealth[i], n.HealthAddr() != "", "health endpoint of %s", n.Name())
			}
		})
	}
}

func TestStartRejectsMismatchedAddrs(t *testing.T) {
	tests := []cluster.Config{
		{Nodes: 3, MQTTAddrs: []string{"127.0.0.1:0"}},
		{Nodes: 2, HealthAddrs: []string{"127.0.0.1:0", "-", "-"}},
		{Nodes: -1},
	}
	for _, cfg := range tests {
		_, err := cluster.Start(cfg)
		assert.ErrorIs(t, err, cluster.ErrConfig)
	}
}

func TestStartFailsOnBusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	_, err = cluster.Start(cluster.Config{
		MQTTAddrs: []string{"127.0.0.1:0", busy.Addr().String()},
		Logger:    slog.New(slog.DiscardHandler),
	})
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
}

// TestDeliveryReachesEveryNode publishes on node1 and checks that the
// subscribers on all three nodes get the message once, byte for byte, at the
// published QoS.
func TestDeliveryReachesEveryNode(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	payloads := map[string][]byte{"0B": {}, "1MiB": big}

	for _, proto := range protocols {
		for qos := range byte(3) {
			for size, payload := range payloads {
				t.Run(fmt.Sprintf("%s/qos%d/%s", proto.name, qos, size), func(t *testing.T) {
					topic := fmt.Sprintf("delivery/%s/%d/%s", proto.name, qos, size)
					var inboxes []<-chan message
					for i, addr := range c.Addrs() {
						sub := proto.connect(t, addr, fmt.Sprintf("sub-%s-%d", t.Name(), i))
						inboxes = append(inboxes, sub.subscribe(t, topic, 2))
					}
					pub := proto.connect(t, c.Addrs()[0], "pub-"+t.Name())
					pub.publish(t, topic, qos, false, payload)
					pub.publish(t, topic, qos, false, []byte("end"))

					for i, inbox := range inboxes {
						got := receiveUntil(t, inbox, "end")
						require.Len(t, got, 1, "node%d: messages before the end marker", i+1)
						assert.True(t, bytes.Equal(payload, got[0].payload), "node%d: payload differs (%d bytes)", i+1, len(got[0].payload))
						assert.Equal(t, qos, got[0].qos, "node%d", i+1)
						assert.False(t, got[0].retain, "node%d", i+1)
					}
				})
			}
		}
	}
}

// markerTopic holds a retained "end" in the retained tests; see
// receiveRetained.
const markerTopic = "marker/end"

// receiveRetained subscribes to filter and returns the retained messages the
// node sends for it. It then subscribes to markerTopic: mochi queues a
// subscription's retained messages in the order the SUBSCRIBEs arrive, so the
// retained marker comes after every message for filter.
//
// It subscribes with QoS 0 because mochi 2.7.9 checks a SUBSCRIBE's packet
// identifier against the identifiers of its own QoS 1 and 2 messages in
// flight to the client, and would refuse the second SUBSCRIBE with 0x91
// (Packet Identifier in use) when they collide.
func receiveRetained(t *testing.T, c testClient, filter string) []message {
	t.Helper()
	inbox := c.subscribe(t, filter, 0)
	c.subscribe(t, markerTopic, 0)
	return receiveUntil(t, inbox, "end")
}

func TestRetainedOnEveryNode(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	nodes := c.Nodes()
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			prefix := "retained/" + proto.name + "/"
			pub := proto.connect(t, nodes[0].Addr(), "pub-"+t.Name())
			pub.publish(t, prefix+"kept", 1, true, []byte("kept"))
			pub.publish(t, prefix+"cleared", 1, true, []byte("cleared"))
			pub.publish(t, prefix+"cleared", 1, true, nil) // an empty retained message deletes [MQTT-3.3.1-6]
			// Peers get a message before its PUBACK, but node1 delivers to its
			// own subscribers after it; node1 reads one PUBLISH at a time, so
			// one more publish lets the deletion above finish there.
			pub.publish(t, markerTopic, 1, true, []byte("end"))

			for i, n := range nodes {
				sub := proto.connect(t, n.Addr(), fmt.Sprintf("sub-%s-%d", t.Name(), i))
				got := receiveRetained(t, sub, prefix+"#")
				require.Len(t, got, 1, "%s: retained messages", n.Name())
				assert.Equal(t, prefix+"kept", got[0].topic)
				assert.Equal(t, "kept", string(got[0].payload))
				assert.True(t, got[0].retain, "%s: retain flag on a retained message [MQTT-3.3.1-9]", n.Name())
			}
		})
	}
}

// TestRetainedSurvivesRestart checks that a restarted node gets the retained
// messages from its peers, including one published while it was down.
func TestRetainedSurvivesRestart(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	node1, node3 := c.Nodes()[0], c.Nodes()[2]
	pub := connectV5(t, node1.Addr(), "pub")
	pub.publish(t, markerTopic, 1, true, []byte("end"))
	pub.publish(t, "restart/before", 1, true, []byte("before"))
	require.NoError(t, node3.Stop())
	pub.publish(t, "restart/during", 1, true, []byte("during"))
	require.NoError(t, node3.Start())

	got := map[string]string{}
	for _, m := range receiveRetained(t, connectV5(t, node3.Addr(), "sub"), "restart/#") {
		got[m.topic] = string(m.payload)
	}
	assert.Equal(t, map[string]string{"restart/before": "before", "restart/during": "during"}, got)
}

func TestStopCutsClientsAndRefusesConnections(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	node2 := c.Nodes()[1]
	var clients []testClient
	for _, proto := range protocols {
		for i := range 2 {
			clients = append(clients, proto.connect(t, node2.Addr(), fmt.Sprintf("%s-%d", proto.name, i)))
		}
	}
	require.Equal(t, len(clients), node2.Clients())
	require.True(t, node2.HasClient("v5-0"))

	require.NoError(t, node2.Stop())
	assert.Zero(t, node2.Clients())
	assert.False(t, node2.HasClient("v5-0"))
	for i, cl := range clients {
		assert.True(t, closedWithin(cl.lost()), "client %d still connected", i)
		select {
		case <-cl.serverDisconnected():
			t.Errorf("client %d got a DISCONNECT: a crash sends none", i)
		default:
		}
	}
	_, err := net.Dial("tcp", node2.Addr())
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)

	addr := node2.Addr()
	require.NoError(t, node2.Start())
	assert.Equal(t, addr, node2.Addr(), "same address after restart")
	sub := connectV5(t, node2.Addr(), "after-restart")
	assert.True(t, node2.HasClient("after-restart"))
	inbox := sub.subscribe(t, "restart/delivery", 1)
	connectV311(t, c.Nodes()[0].Addr(), "pub").publish(t, "restart/delivery", 1, false, []byte("back"))
	assert.Equal(t, "back", string(receive(t, inbox).payload), "restarted node rejoined the cluster")
}

func TestStopAndStartAreIdempotent(t *testing.T) {
	c := startCluster(t, cluster.Config{Nodes: 1})
	n := c.Nodes()[0]
	require.NoError(t, n.Start())
	require.NoError(t, n.Stop())
	require.NoError(t, n.Stop())
	require.NoError(t, n.Start())
	require.NoError(t, c.Close())
	assert.ErrorIs(t, n.Start(), cluster.ErrClosed)
}

// TestWillReachesEveryNode checks that the will of a client cut by a node
// crash is delivered on the other nodes.
func TestWillReachesEveryNode(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	node1, node3 := c.Nodes()[0], c.Nodes()[2]
	sub := connectV5(t, node3.Addr(), "watcher")
	inbox := sub.subscribe(t, "wills/#", 2)

	// MQTT 3.1.1 CONNECT [MQTT-3.1]: clean session and will flag, will QoS 1,
	// keep-alive 30 s, client ID "w", will topic "wills/w", will message "gone".
	conn := rawConnect(t, node1.Addr(), []byte{
		0x10, 0x1c, // CONNECT, remaining length 28
		0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, // protocol name and level 4
		0x0e,       // flags: will QoS 1 (0x08), will flag (0x04), clean session (0x02)
		0x00, 0x1e, // keep-alive 30 s
		0x00, 0x01, 'w', // client ID
		0x00, 0x07, 'w', 'i', 'l', 'l', 's', '/', 'w', // will topic
		0x00, 0x04, 'g', 'o', 'n', 'e', // will message
	})
	defer conn.Close()

	require.NoError(t, node1.Stop())
	m := receive(t, inbox)
	assert.Equal(t, "wills/w", m.topic)
	assert.Equal(t, "gone", string(m.payload))
	assert.Equal(t, byte(1), m.qos)
}

// TestTakeoverAcrossNodes checks that a client ID is connected to one node
// at a time, as in a real cluster [MQTT-3.1.4-3].
func TestTakeoverAcrossNodes(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	node1, node2 := c.Nodes()[0], c.Nodes()[1]
	for _, proto := range protocols {
		t.Run(proto.name, func(t *testing.T) {
			id := "roamer-" + proto.name
			first := proto.connect(t, node1.Addr(), id)
			require.True(t, node1.HasClient(id))

			proto.connect(t, node2.Addr(), id)
			assert.True(t, closedWithin(first.lost()), "first connection ends")
			if proto.name == "v5" {
				assert.True(t, closedWithin(first.serverDisconnected()), "with DISCONNECT Session taken over")
			}
			assert.False(t, node1.HasClient(id))
			assert.True(t, node2.HasClient(id))
		})
	}
}

// rawConnect opens an MQTT connection with a CONNECT packet written by hand,
// so that no client library runs goroutines of its own.
func rawConnect(t *testing.T, addr string, connect []byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = conn.Write(connect)
	require.NoError(t, err)
	connack := make([]byte, 4)
	_, err = io.ReadFull(conn, connack)
	require.NoError(t, err)
	require.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, connack, "CONNACK accepted [MQTT-3.2]")
	return conn
}

// TestCloseLeavesNoGoroutine closes a cluster with clients and a health
// check connection still open.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	c, err := cluster.Start(cluster.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var conns []net.Conn
	for i, n := range c.Nodes() {
		// MQTT 3.1.1 CONNECT: clean session, keep-alive 30 s, client ID "c1".."c3".
		conns = append(conns, rawConnect(t, n.Addr(), []byte{
			0x10, 0x0e, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x1e, 0x00, 0x02, 'c', byte('1' + i),
		}))
		health, err := net.Dial("tcp", n.HealthAddr())
		require.NoError(t, err)
		_, err = io.WriteString(health, "GET "+cluster.ReadinessPath+" HTTP/1.1\r\nHost: node\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(health), nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		conns = append(conns, health) // kept alive by the server
	}

	require.NoError(t, c.Close())
	for _, conn := range conns {
		_, err := conn.Read(make([]byte, 1))
		assert.ErrorIs(t, err, io.EOF, "connection to %s closed by the server", conn.RemoteAddr())
		conn.Close()
	}
	goleak.VerifyNone(t)
}

func TestReadiness(t *testing.T) {
	c := startCluster(t, cluster.Config{Nodes: 1})
	n := c.Nodes()[0]
	url := "http://" + n.HealthAddr() + cluster.ReadinessPath
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitTimeout}

	status := func() (int, string) {
		t.Helper()
		resp, err := client.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body struct{ Status string }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		return resp.StatusCode, body.Status
	}
	assertStatus := func(wantCode int, wantStatus string) {
		t.Helper()
		code, status := status()
		assert.Equal(t, wantCode, code)
		assert.Equal(t, wantStatus, status)
	}

	assertStatus(http.StatusOK, "UP")
	n.SetReady(false)
	assertStatus(http.StatusServiceUnavailable, "DOWN")
	connectV5(t, n.Addr(), "still-served") // maintenance leaves the broker running
	n.SetReady(true)
	assertStatus(http.StatusOK, "UP")

	n.SetReady(false)
	require.NoError(t, n.Stop())
	_, err := client.Get(url)
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "stopped node's endpoint refuses connections, got %v", err)
	require.NoError(t, n.Start())
	assertStatus(http.StatusOK, "UP") // a restarted node is ready again

	resp, err := client.Get("http://" + n.HealthAddr() + cluster.LivenessPath)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestRestartsDoNotDisturbOtherNodes publishes on node1 and node2 while node3
// is stopped and started again and again: subscribers on node1 and node2
// still get every message once, in each publisher's order.
func TestRestartsDoNotDisturbOtherNodes(t *testing.T) {
	const messages = 200
	c := startCluster(t, cluster.Config{})
	nodes := c.Nodes()
	var inboxes []<-chan message
	for i, n := range nodes[:2] {
		inboxes = append(inboxes, connectV5(t, n.Addr(), fmt.Sprintf("sub%d", i)).subscribe(t, "churn/#", 1))
	}
	publishers := []testClient{connectV5(t, nodes[0].Addr(), "pub0"), connectV311(t, nodes[1].Addr(), "pub1")}

	published := make(chan struct{})
	churnDone := make(chan error, 1)
	go func() {
		var err error
		for range 100 { // restarts until the publishing ends, at most 100
			select {
			case <-published:
				churnDone <- err
				return
			default:
			}
			err = errors.Join(err, nodes[2].Stop(), nodes[2].Start())
		}
		churnDone <- err
	}()
	for i := range messages {
		for p, pub := range publishers {
			pub.publish(t, fmt.Sprintf("churn/%d", p), 1, false, fmt.Appendf(nil, "%d", i))
		}
	}
	close(published)
	require.NoError(t, <-churnDone)

	for s, inbox := range inboxes {
		next := make([]int, len(publishers)) // the next message expected from each publisher
		for range messages * len(publishers) {
			m := receive(t, inbox)
			var p, i int
			_, err := fmt.Sscanf(m.topic+" "+string(m.payload), "churn/%d %d", &p, &i)
			require.NoError(t, err)
			require.Equal(t, next[p], i, "subscriber %d, publisher %d: message order", s, p)
			next[p]++
		}
	}
}
