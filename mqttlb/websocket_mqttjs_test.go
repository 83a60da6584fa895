package mqttlb

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/mosquitto"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// mqttjsDir holds the MQTT.js test client: package.json and
// package-lock.json are committed, node_modules is installed by the test.
const mqttjsDir = "testdata/mqttjs"

var mqttjsInstall struct {
	once sync.Once
	err  error
}

// requireMQTTJS skips the test when node or npm is missing, and installs
// MQTT.js from the lock file on first use (npm ci).
func requireMQTTJS(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("MQTT.js: node is not on PATH; install Node.js 18 or newer to run this test")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("MQTT.js: npm is not on PATH; install npm to run this test")
	}
	mqttjsInstall.once.Do(func() {
		if _, err := os.Stat(filepath.Join(mqttjsDir, "node_modules", "mqtt", "package.json")); err == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = mqttjsDir
		if out, err := cmd.CombinedOutput(); err != nil {
			mqttjsInstall.err = fmt.Errorf("%w\n%s", err, out)
		}
	})
	if mqttjsInstall.err != nil {
		t.Skipf("MQTT.js: npm ci in %s failed (offline?): %v", mqttjsDir, mqttjsInstall.err)
	}
	return node
}

// TestWebSocketMQTTJS runs MQTT.js, the client of most browser MQTT
// applications, over ws:// and wss:// through the proxy to Mosquitto's
// TCP listener: pub/sub at QoS 0, 1 and 2 in MQTT 3.1.1 and 5.
func TestWebSocketMQTTJS(t *testing.T) {
	node := requireMQTTJS(t)
	broker := mosquitto.Start(t, mosquitto.Config{})
	cert := newTestCert(t)
	for _, tc := range []struct {
		name   string
		tls    *tls.Config
		scheme string
		caFile string
	}{
		{"ws", nil, "ws", ""},
		{"wss", cert.server, "wss", cert.pemPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := &Pool{Name: "mosquitto"}
			pool.SetBackends(backendsFor(broker.Addr()))
			events := newEventLog()
			addr := startWSProxy(t, &Proxy{Default: pool, OnConn: events.add}, &WebSocketListener{}, tc.tls)
			for _, version := range []string{"4", "5"} {
				t.Run("v"+version, func(t *testing.T) {
					before := len(events.all())
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					args := []string{filepath.Join(mqttjsDir, "pubsub.js"), tc.scheme + "://" + addr + "/mqtt", version}
					if tc.caFile != "" {
						args = append(args, tc.caFile)
					}
					out, err := exec.CommandContext(ctx, node, args...).CombinedOutput()
					require.NoError(t, err, "%s", out)
					assert.Equal(t, "ok 12", strings.TrimSpace(string(out)))

					testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) >= before+2 }, "both connections to end")
					for _, ev := range events.all()[before:] {
						assert.Contains(t, ev.ClientID, "mqttjs-", "the proxy read the CONNECT inside the WebSocket")
						assert.Equal(t, "node1", ev.Backend)
						assert.Equal(t, version, fmt.Sprint(ev.ProtocolVersion))
					}
				})
			}
		})
	}
}
