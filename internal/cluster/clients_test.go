package cluster_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// waitTimeout bounds every wait in these tests; it is generous because the
// machine running them is shared.
const waitTimeout = 10 * time.Second

// inboxSize is far more than any test receives; a message that does not fit
// is dropped, which makes the waiting test fail rather than block a client.
const inboxSize = 1024

// message is what a test client received.
type message struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
}

// testClient hides the two client libraries, so that one test covers MQTT 5
// (paho.golang) and MQTT 3.1.1 (paho.mqtt.golang).
type testClient interface {
	// subscribe subscribes with the maximum QoS given and returns the
	// client's inbox, which receives the messages of every subscription.
	subscribe(t *testing.T, filter string, qos byte) <-chan message
	publish(t *testing.T, topic string, qos byte, retain bool, payload []byte)
	// lost is closed when the connection ends without the client asking.
	lost() <-chan struct{}
	// serverDisconnected is closed if the broker sent DISCONNECT (MQTT 5).
	serverDisconnected() <-chan struct{}
}

type protocol struct {
	name    string
	connect func(t *testing.T, addr, clientID string) testClient
}

var protocols = []protocol{
	{"v5", connectV5},
	{"v311", connectV311},
}

func deliver(inbox chan message, m message) {
	select {
	case inbox <- m:
	default:
	}
}

// v5Client is an MQTT 5 client on paho.golang.
type v5Client struct {
	client       *paho.Client
	inbox        chan message
	disconnected chan struct{}
}

func connectV5(t *testing.T, addr, clientID string) testClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c := &v5Client{inbox: make(chan message, inboxSize), disconnected: make(chan struct{})}
	c.client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			deliver(c.inbox, message{topic: p.Topic, payload: p.Payload, qos: p.QoS, retain: p.Retain})
			return true, nil
		}},
		OnServerDisconnect: func(*paho.Disconnect) { close(c.disconnected) },
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ack, err := c.client.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	require.Zero(t, ack.ReasonCode)
	t.Cleanup(func() {
		_ = c.client.Disconnect(&paho.Disconnect{})
		<-c.client.Done()
	})
	return c
}

func (c *v5Client) subscribe(t *testing.T, filter string, qos byte) <-chan message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ack, err := c.client.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: filter, QoS: qos, RetainAsPublished: true},
	}})
	require.NoError(t, err)
	require.Equal(t, []byte{qos}, ack.Reasons)
	return c.inbox
}

func (c *v5Client) publish(t *testing.T, topic string, qos byte, retain bool, payload []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := c.client.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: payload})
	require.NoError(t, err)
}

func (c *v5Client) lost() <-chan struct{}               { return c.client.Done() }
func (c *v5Client) serverDisconnected() <-chan struct{} { return c.disconnected }

// v311Client is an MQTT 3.1.1 client on paho.mqtt.golang.
type v311Client struct {
	client   mqtt3.Client
	inbox    chan message
	lostOnce sync.Once
	lostCh   chan struct{}
}

func connectV311(t *testing.T, addr, clientID string) testClient {
	t.Helper()
	c := &v311Client{inbox: make(chan message, inboxSize), lostCh: make(chan struct{})}
	opts := mqtt3.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(waitTimeout).
		SetConnectionLostHandler(func(mqtt3.Client, error) {
			c.lostOnce.Do(func() { close(c.lostCh) })
		})
	c.client = mqtt3.NewClient(opts)
	tok := c.client.Connect()
	require.True(t, tok.WaitTimeout(waitTimeout), "connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.client.Disconnect(0) })
	return c
}

func (c *v311Client) subscribe(t *testing.T, filter string, qos byte) <-chan message {
	t.Helper()
	tok := c.client.Subscribe(filter, qos, func(_ mqtt3.Client, m mqtt3.Message) {
		deliver(c.inbox, message{topic: m.Topic(), payload: m.Payload(), qos: m.Qos(), retain: m.Retained()})
	})
	require.True(t, tok.WaitTimeout(waitTimeout), "subscribe timed out")
	require.NoError(t, tok.Error())
	return c.inbox
}

func (c *v311Client) publish(t *testing.T, topic string, qos byte, retain bool, payload []byte) {
	t.Helper()
	tok := c.client.Publish(topic, qos, retain, payload)
	require.True(t, tok.WaitTimeout(waitTimeout), "publish timed out")
	require.NoError(t, tok.Error())
}

func (c *v311Client) lost() <-chan struct{} { return c.lostCh }

// serverDisconnected never closes: MQTT 3.1.1 has no server DISCONNECT.
func (c *v311Client) serverDisconnected() <-chan struct{} { return nil }

// receive returns the next message of inbox, failing the test after
// waitTimeout.
func receive(t *testing.T, inbox <-chan message) message {
	t.Helper()
	select {
	case m := <-inbox:
		return m
	case <-time.After(waitTimeout):
		require.FailNow(t, "no message within timeout")
		return message{}
	}
}

// receiveUntil returns the messages of inbox that arrive before one whose
// payload is marker.
func receiveUntil(t *testing.T, inbox <-chan message, marker string) []message {
	t.Helper()
	var got []message
	for {
		m := receive(t, inbox)
		if string(m.payload) == marker {
			return got
		}
		got = append(got, m)
	}
}

// closedWithin reports whether ch closes within waitTimeout.
func closedWithin(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(waitTimeout):
		return false
	}
}
