package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cliflag"
)

// TestBindWebSocket runs the demo with -bind-ws and -bind-wss: a
// subscriber over WebSocket receives what a TCP client publishes, through
// the same proxy, and a client over secure WebSocket is answered too.
func TestBindWebSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program; skipped with -short")
	}
	bin := buildProgram(t)

	addr, wsAddr, wssAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	certFile, roots := serverPEM(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-bind", addr, "-bind-ws", wsAddr, "-bind-wss", wssAddr,
		"-tls-cert", certFile, "-stats", "")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	require.NoError(t, cmd.Start())

	received := make(chan string, 1)
	sub := connect311(t, "ws://"+wsAddr+"/mqtt", "ws-sub")
	tok := sub.Subscribe("demo/#", 1, func(_ paho311.Client, m paho311.Message) { received <- string(m.Payload()) })
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	pub := connect311(t, "tcp://"+addr, "tcp-pub")
	require.True(t, pub.Publish("demo/ws", 1, false, "to a WebSocket subscriber").WaitTimeout(5*time.Second))
	select {
	case got := <-received:
		assert.Equal(t, "to a WebSocket subscriber", got)
	case <-time.After(10 * time.Second):
		t.Fatal("message not delivered over WebSocket")
	}
	pub.Disconnect(100)
	sub.Disconnect(100)

	// wss: an MQTT 3.1.1 CONNECT in one binary message gets the broker's
	// CONNACK.
	ws, _, err := websocket.Dial(ctx, "wss://"+wssAddr+"/mqtt", &websocket.DialOptions{
		Subprotocols: []string{"mqtt"},
		HTTPClient:   &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}},
	})
	require.NoError(t, err)
	defer ws.CloseNow()
	connect := []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 4, 'w', 's', 's', '1'}
	require.NoError(t, ws.Write(ctx, websocket.MessageBinary, connect))
	_, connack, err := ws.Read(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x20, 2, 0, 0}, connack)
	ws.Close(websocket.StatusNormalClosure, "")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	assert.NoError(t, cmd.Wait(), "the program exits cleanly on SIGTERM")
}

func TestWebSocketFlagsErrors(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	free := freeAddr(t)
	for _, tc := range []struct {
		name  string
		flags webSocketFlags
		want  string
	}{
		{"-bind-wss without -tls-cert", webSocketFlags{binds: cliflag.List{free}, tlsBinds: cliflag.List{"127.0.0.1:0"}}, "-bind-wss"},
		{"an address in use", webSocketFlags{binds: cliflag.List{free, taken.Addr().String()}}, "-bind-ws"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listeners, err := tc.flags.listenAll(&edgeFlags{}, logger)
			assert.ErrorContains(t, err, tc.want)
			assert.Empty(t, listeners)
			ln, err := net.Listen("tcp", free)
			require.NoError(t, err, "the listener opened before the error is closed")
			ln.Close()
		})
	}
}
