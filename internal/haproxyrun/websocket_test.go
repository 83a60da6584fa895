package haproxyrun

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cluster"
)

// TestWebSocketBind: "bind ADDR ws" (our extension to HAProxy's syntax)
// terminates MQTT over WebSocket and routes it like TCP clients, here to
// a broker's plain TCP port.
func TestWebSocketBind(t *testing.T) {
	c := startCluster(t, cluster.Config{Nodes: 1})
	r := startRunner(t, writeTemp(t, `frontend mqtt_ws
  bind 127.0.0.1:0 ws
  default_backend brokers
backend brokers
  server n1 `+c.Addrs()[0]+`
`))
	addr := boundAddr(t, r, "127.0.0.1:0")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	require.NoError(t, err)
	defer ws.CloseNow()
	assert.Equal(t, "mqtt", ws.Subprotocol())
	require.NoError(t, ws.Write(ctx, websocket.MessageBinary, connectWire("ws-client", true)))
	typ, answer, err := ws.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, websocket.MessageBinary, typ)
	assert.Equal(t, []byte{0x20, 2, 0, 0}, answer, "CONNACK accepted, through WebSocket to the TCP broker")
	assert.Equal(t, "node1", holder(t, c.Nodes(), "ws-client"))
}
