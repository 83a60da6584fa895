package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho311 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDemo runs the program as a user would, with no flags but a free
// port: three embedded brokers behind the proxy. Two MQTT 3.1.1 clients
// on different nodes exchange a message, then SIGTERM ends the program
// cleanly.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program; skipped with -short")
	}
	bin := buildProgram(t)

	addr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-bind", addr, "-stats", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go io.Copy(io.Discard, stderr)

	// The demo prints how to try it once it listens.
	var help strings.Builder
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		help.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "mosquitto_pub") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	assert.Contains(t, help.String(), "mosquitto_sub -h 127.0.0.1 -p "+portOf(addr))
	assert.Contains(t, help.String(), "node3")

	received := make(chan string, 1)
	sub := connect311(t, "tcp://"+addr, "demo-sub")
	tok := sub.Subscribe("demo/#", 1, func(_ paho311.Client, m paho311.Message) { received <- string(m.Payload()) })
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	pub := connect311(t, "tcp://"+addr, "demo-pub")
	require.True(t, pub.Publish("demo/hello", 1, false, "hello through mqttlb").WaitTimeout(5*time.Second))
	select {
	case got := <-received:
		assert.Equal(t, "hello through mqttlb", got)
	case <-time.After(10 * time.Second):
		t.Fatal("message not delivered through the demo")
	}
	pub.Disconnect(100)
	sub.Disconnect(100)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	assert.NoError(t, cmd.Wait(), "the program exits cleanly on SIGTERM")
}

func connect311(t *testing.T, broker, id string) paho311.Client {
	t.Helper()
	opts := paho311.NewClientOptions().AddBroker(broker).SetClientID(id).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho311.NewClient(opts)
	var tok paho311.Token
	// The listener may take a moment after the help text.
	for range 50 {
		tok = c.Connect()
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			return c
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, tok.Error())
	return c
}

// buildProgram builds the program into a temporary directory.
func buildProgram(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "haproxy-like")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	return bin
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}
