package mosquitto_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/mqttlb/mqttlb/internal/mosquitto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitTimeout = 10 * time.Second

// connect connects an MQTT 3.1.1 client and returns it with a channel that
// closes when the connection is lost.
func connect(t *testing.T, addr, clientID, username, password string) (mqtt3.Client, <-chan struct{}, error) {
	t.Helper()
	lost := make(chan struct{})
	client := mqtt3.NewClient(mqtt3.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(clientID).
		SetUsername(username).
		SetPassword(password).
		SetAutoReconnect(false).
		SetConnectTimeout(waitTimeout).
		SetConnectionLostHandler(func(mqtt3.Client, error) { close(lost) }))
	tok := client.Connect()
	require.True(t, tok.WaitTimeout(waitTimeout), "connect timed out")
	if tok.Error() == nil {
		t.Cleanup(func() { client.Disconnect(0) })
	}
	return client, lost, tok.Error()
}

// roundTrip subscribes to topic and publishes to it, and returns the first
// message received, which is the retained one if there is one.
func roundTrip(t *testing.T, client mqtt3.Client, topic, payload string) string {
	t.Helper()
	received := make(chan string, 2)
	tok := client.Subscribe(topic, 1, func(_ mqtt3.Client, m mqtt3.Message) {
		select {
		case received <- string(m.Payload()):
		default:
		}
	})
	require.True(t, tok.WaitTimeout(waitTimeout))
	require.NoError(t, tok.Error())
	if payload != "" {
		tok = client.Publish(topic, 1, false, payload)
		require.True(t, tok.WaitTimeout(waitTimeout))
		require.NoError(t, tok.Error())
	}
	select {
	case got := <-received:
		return got
	case <-time.After(waitTimeout):
		require.FailNow(t, "no message within timeout")
		return ""
	}
}

func TestKillAndRestart(t *testing.T) {
	b := mosquitto.Start(t, mosquitto.Config{})
	addr := b.Addr()
	client, lost, err := connect(t, addr, "before", "", "")
	require.NoError(t, err)
	assert.Equal(t, "hello", roundTrip(t, client, "test/kill", "hello"))

	b.Kill()
	select {
	case <-lost:
	case <-time.After(waitTimeout):
		t.Fatal("client still connected after SIGKILL")
	}
	_, err = net.Dial("tcp", addr)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)

	b.Restart()
	assert.Equal(t, addr, b.Addr(), "same address after restart")
	client, _, err = connect(t, addr, "after", "", "")
	require.NoError(t, err)
	assert.Equal(t, "again", roundTrip(t, client, "test/kill", "again"))
}

func TestPersistenceAcrossStop(t *testing.T) {
	b := mosquitto.Start(t, mosquitto.Config{Persistence: true})
	client, _, err := connect(t, b.Addr(), "writer", "", "")
	require.NoError(t, err)
	tok := client.Publish("test/persisted", 1, true, "kept")
	require.True(t, tok.WaitTimeout(waitTimeout))
	require.NoError(t, tok.Error())

	b.Stop() // SIGTERM saves the database
	b.Restart()
	client, _, err = connect(t, b.Addr(), "reader", "", "")
	require.NoError(t, err)
	assert.Equal(t, "kept", roundTrip(t, client, "test/persisted", ""))
}

func TestPasswordFile(t *testing.T) {
	passwd := mosquitto.WritePasswordFile(t, map[string]string{"alice": "secret", "bob": "hunter2"})
	b := mosquitto.Start(t, mosquitto.Config{PasswordFile: passwd, DenyAnonymous: true})
	tests := []struct {
		name, username, password string
		wantErr                  bool
	}{
		{"valid user", "alice", "secret", false},
		{"second user", "bob", "hunter2", false},
		{"wrong password", "alice", "wrong", true},
		{"anonymous", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := connect(t, b.Addr(), "c-"+tt.username, tt.username, tt.password)
			if tt.wantErr {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func TestExtraConfig(t *testing.T) {
	b := mosquitto.Start(t, mosquitto.Config{ExtraConfig: []string{"max_packet_size 64"}})
	client, lost, err := connect(t, b.Addr(), "big", "", "")
	require.NoError(t, err)
	client.Publish("test/big", 0, false, make([]byte, 100)) // over the limit: mosquitto drops the client
	select {
	case <-lost:
	case <-time.After(waitTimeout):
		t.Fatal("a packet over max_packet_size did not end the connection")
	}
}
