package mqttlb

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

var payloadSizes = []int{0, 1, 1 << 10, 64 << 10, 1 << 20}

// randomPayload returns n bytes that are the same for the same seed.
func randomPayload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// v5Client connects a paho.golang (MQTT 5) client through addr.
func v5Client(t testing.TB, addr, id string, received chan<- *paho.Publish) *paho.Client {
	t.Helper()
	return v5ClientOver(t, tcpDialer(addr), id, received)
}

// tcpDialer dials addr over TCP, for v5ClientOver.
func tcpDialer(addr string) func(testing.TB) net.Conn {
	return func(t testing.TB) net.Conn {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		return conn
	}
}

// v5ClientOver connects a paho.golang (MQTT 5) client over a connection
// that dial opens.
func v5ClientOver(t testing.TB, dial func(testing.TB) net.Conn, id string, received chan<- *paho.Publish) *paho.Client {
	t.Helper()
	return v5ClientKeepAlive(t, dial, id, received, 30)
}

// v5ClientKeepAlive is v5ClientOver with a keep-alive of its own, in
// seconds.
func v5ClientKeepAlive(t testing.TB, dial func(testing.TB) net.Conn, id string, received chan<- *paho.Publish, keepAlive uint16) *paho.Client {
	t.Helper()
	conn := dial(t)
	cfg := paho.ClientConfig{ClientID: id, Conn: conn}
	if received != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { received <- pr.Packet; return true, nil },
		}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: keepAlive})
	require.NoError(t, err)
	require.Equal(t, byte(0), ack.ReasonCode)
	t.Cleanup(func() {
		c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		<-c.Done()
	})
	return c
}

// v311Client connects a paho.mqtt.golang (MQTT 3.1.1) client through addr.
func v311Client(t testing.TB, addr, id string) paho311.Client {
	t.Helper()
	opts := paho311.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).SetWriteTimeout(10 * time.Second)
	return testnet.Connect311(t, opts)
}

func TestPubSubAcrossNodesV5(t *testing.T) {
	c := startCluster(t, 3)
	addr, events := roundRobinProxy(t, c.Addrs())
	testPubSubV5(t, addr, events)
}

func TestPubSubAcrossNodesV311(t *testing.T) {
	c := startCluster(t, 3)
	addr, events := roundRobinProxy(t, c.Addrs())
	testPubSubV311(t, addr, events)
}

// roundRobinProxy serves a round-robin pool over the addresses, so that
// two clients connected one after the other land on different backends.
func roundRobinProxy(t *testing.T, addrs []string) (string, *eventLog) {
	pool := &Pool{Name: "brokers", Balancer: balance.RoundRobin{}}
	pool.SetBackends(backendsFor(addrs...))
	events := newEventLog()
	return startProxy(t, &Proxy{Default: pool, OnConn: events.add}), events
}

// assertCrossedNodes checks, once the clients have disconnected, that the
// subscriber and the publisher were relayed to different backends.
func assertCrossedNodes(t *testing.T, events *eventLog, sub, pub string) {
	t.Cleanup(func() {
		testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) >= 2 }, "both connections to end")
		backend := map[string]string{}
		for _, ev := range events.all() {
			backend[ev.ClientID] = ev.Backend
		}
		assert.NotEmpty(t, backend[sub])
		assert.NotEqual(t, backend[sub], backend[pub], "subscriber and publisher on different nodes")
	})
}

func testPubSubV5(t *testing.T, addr string, events *eventLog) {
	testPubSubV5Over(t, tcpDialer(addr), events)
}

func testPubSubV5Over(t *testing.T, dial func(testing.TB) net.Conn, events *eventLog) {
	assertCrossedNodes(t, events, "sub-v5", "pub-v5")
	received := make(chan *paho.Publish, 16)
	sub := v5ClientOver(t, dial, "sub-v5", received)
	pub := v5ClientOver(t, dial, "pub-v5", nil)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for qos := byte(0); qos <= 2; qos++ {
		topic := fmt.Sprintf("e2e/v5/q%d", qos)
		_, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: qos}}})
		require.NoError(t, err)
		// Let the subscription spread over the cluster before publishing.
		time.Sleep(50 * time.Millisecond)
		for _, size := range payloadSizes {
			t.Run(fmt.Sprintf("qos%d/%dB", qos, size), func(t *testing.T) {
				payload := randomPayload(size, uint64(qos))
				_, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: payload})
				require.NoError(t, err)
				select {
				case m := <-received:
					assert.Equal(t, topic, m.Topic)
					assert.True(t, bytes.Equal(payload, m.Payload), "payload of %d bytes differs", size)
				case <-time.After(10 * time.Second):
					t.Fatal("message not delivered")
				}
			})
		}
	}
}

func testPubSubV311(t *testing.T, addr string, events *eventLog) {
	assertCrossedNodes(t, events, "sub-311", "pub-311")
	sub := v311Client(t, addr, "sub-311")
	pub := v311Client(t, addr, "pub-311")

	for qos := byte(0); qos <= 2; qos++ {
		topic := fmt.Sprintf("e2e/311/q%d", qos)
		received := make(chan paho311.Message, 16)
		tok := sub.Subscribe(topic, qos, func(_ paho311.Client, m paho311.Message) { received <- m })
		require.True(t, tok.WaitTimeout(5*time.Second))
		require.NoError(t, tok.Error())
		time.Sleep(50 * time.Millisecond)
		for _, size := range payloadSizes {
			t.Run(fmt.Sprintf("qos%d/%dB", qos, size), func(t *testing.T) {
				payload := randomPayload(size, uint64(qos)+10)
				tok := pub.Publish(topic, qos, false, payload)
				require.True(t, tok.WaitTimeout(10*time.Second))
				require.NoError(t, tok.Error())
				select {
				case m := <-received:
					assert.Equal(t, topic, m.Topic())
					assert.True(t, bytes.Equal(payload, m.Payload()), "payload of %d bytes differs", size)
				case <-time.After(10 * time.Second):
					t.Fatal("message not delivered")
				}
			})
		}
	}
}
