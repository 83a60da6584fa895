package mqttlb

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/mosquitto"
)

// bridgedMosquittos starts three Mosquitto processes joined the way
// Mosquitto deployments join brokers: node2 and node3 bridge every topic
// to node1 (a star), so a message published on any node reaches
// subscribers on every node. It returns once messages cross the bridges.
func bridgedMosquittos(t *testing.T) []string {
	t.Helper()
	hub := mosquitto.Start(t, mosquitto.Config{})
	// Each bridge needs a name of its own: the name makes its client ID
	// on the hub, and two bridges with one ID would take each other over.
	bridge := func(name string) []string {
		return []string{
			"connection " + name,
			"address " + hub.Addr(),
			"topic # both 2",
			"try_private true",
			"cleansession true",
			"restart_timeout 1",
		}
	}
	n2 := mosquitto.Start(t, mosquitto.Config{ExtraConfig: bridge("node2-to-hub")})
	n3 := mosquitto.Start(t, mosquitto.Config{ExtraConfig: bridge("node3-to-hub")})
	addrs := []string{hub.Addr(), n2.Addr(), n3.Addr()}

	// Wait until a message published on node2 reaches node3: both
	// bridges are up then.
	received := make(chan struct{}, 1)
	sub := v311Client(t, n3.Addr(), "bridge-probe-sub")
	tok := sub.Subscribe("bridge/ready", 0, func(_ paho311.Client, _ paho311.Message) {
		select {
		case received <- struct{}{}:
		default:
		}
	})
	require.True(t, tok.WaitTimeout(5*time.Second))
	pub := v311Client(t, n2.Addr(), "bridge-probe-pub")
	deadline := time.After(15 * time.Second)
	for {
		pub.Publish("bridge/ready", 0, false, "?").WaitTimeout(time.Second)
		select {
		case <-received:
			return addrs
		case <-deadline:
			t.Fatal("the Mosquitto bridges did not come up within 15 s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestMosquittoPubSubV5(t *testing.T) {
	addr, events := roundRobinProxy(t, bridgedMosquittos(t))
	testPubSubV5(t, addr, events)
}

func TestMosquittoPubSubV311(t *testing.T) {
	addr, events := roundRobinProxy(t, bridgedMosquittos(t))
	testPubSubV311(t, addr, events)
}

// TestMosquittoClientsThroughProxy runs mosquitto_sub and mosquitto_pub
// through the proxy in each protocol version they speak.
func TestMosquittoClientsThroughProxy(t *testing.T) {
	for _, tool := range []string{"mosquitto_sub", "mosquitto_pub"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install mosquitto-clients): %v", tool, err)
		}
	}
	addr, _ := roundRobinProxy(t, bridgedMosquittos(t))
	host, port, _ := strings.Cut(addr, ":")

	for _, version := range []string{"31", "311", "5"} {
		t.Run("V"+version, func(t *testing.T) {
			topic := "cli/v" + version
			message := "hello over MQTT v" + version
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cliPubSub(t, ctx,
				[]string{"-h", host, "-p", port, "-V", version, "-t", topic, "-C", "1", "-W", "15", "-q", "1"},
				[]string{"-h", host, "-p", port, "-V", version, "-t", topic, "-m", message, "-q", "1"},
				message)
		})
	}
}

// TestMosquittoRefusesThroughProxy checks that a broker's own refusal
// reaches the client unchanged through the proxy.
func TestMosquittoRefusesThroughProxy(t *testing.T) {
	broker := mosquitto.Start(t, mosquitto.Config{DenyAnonymous: true,
		PasswordFile: mosquitto.WritePasswordFile(t, map[string]string{"dev": "pw"})})
	addr, _ := roundRobinProxy(t, []string{broker.Addr()})
	_, ack := rawConnect(t, addr, connectWire(4, "anonymous", 60))
	// 3.1.1 return code 0x05, not authorized (MQTT 3.1.1 §3.2.2.3).
	assert.Equal(t, []byte{0x20, 2, 0x00, 0x05}, ack, fmt.Sprintf("% x", ack))
}

// TestMosquittoBridgeThroughProxy: a Mosquitto bridge (try_private, so its
// CONNECT carries the 0x80 bridge bit on the protocol level) reaches its
// hub through the proxy, and messages cross it.
func TestMosquittoBridgeThroughProxy(t *testing.T) {
	hub := mosquitto.Start(t, mosquitto.Config{})
	addr, events := roundRobinProxy(t, []string{hub.Addr()})
	edge := mosquitto.Start(t, mosquitto.Config{ExtraConfig: []string{
		"connection edge-to-hub",
		"address " + addr,
		"topic # both 1",
		"try_private true",
		"restart_timeout 1",
	}})
	received := make(chan struct{}, 1)
	sub := v311Client(t, hub.Addr(), "bridge-hub-sub")
	tok := sub.Subscribe("edge/#", 1, func(_ paho311.Client, _ paho311.Message) {
		select {
		case received <- struct{}{}:
		default:
		}
	})
	require.True(t, tok.WaitTimeout(5*time.Second))
	pub := v311Client(t, edge.Addr(), "bridge-edge-pub")
	deadline := time.After(15 * time.Second)
	for {
		pub.Publish("edge/hello", 1, false, "through the proxy").WaitTimeout(time.Second)
		select {
		case <-received:
			for _, ev := range events.all() {
				assert.NotEqual(t, "refused", ev.End, "the bridge was refused: %v", ev.Err)
			}
			return
		case <-deadline:
			t.Fatalf("no message crossed the bridge through the proxy; proxy events: %+v", events.all())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cliPubSub starts mosquitto_sub with subArgs (which must make it exit
// after one message, -C 1), then runs mosquitto_pub with pubArgs until
// the subscriber has the message, since it may not have subscribed yet
// when the first one arrives, and checks that it printed want.
func cliPubSub(t *testing.T, ctx context.Context, subArgs, pubArgs []string, want string) {
	t.Helper()
	sub := exec.CommandContext(ctx, "mosquitto_sub", subArgs...)
	var out, errOut bytes.Buffer
	sub.Stdout, sub.Stderr = &out, &errOut
	require.NoError(t, sub.Start())
	done := make(chan error, 1)
	go func() { done <- sub.Wait() }()
	for {
		pubOut, err := exec.CommandContext(ctx, "mosquitto_pub", pubArgs...).CombinedOutput()
		require.NoError(t, err, "mosquitto_pub: %s", pubOut)
		select {
		case err := <-done:
			require.NoError(t, err, "mosquitto_sub: %s", errOut.String())
			assert.Equal(t, want, strings.TrimSpace(out.String()))
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}
