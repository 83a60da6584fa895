package main

import (
	"context"
	"io"
	"os/exec"
	"syscall"
	"testing"
	"time"

	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBindWebSocket runs the demo with -bind-ws: a subscriber over
// WebSocket receives what a TCP client publishes, through the same proxy.
func TestBindWebSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program; skipped with -short")
	}
	bin := buildProgram(t)

	addr, wsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-bind", addr, "-bind-ws", wsAddr)
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

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	assert.NoError(t, cmd.Wait(), "the program exits cleanly on SIGTERM")
}
