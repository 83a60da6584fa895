package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttlb/mqttlb/internal/haproxyrun"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestShippedConfigIsTheTestedOne: haproxy.cfg is the configuration that
// internal/haproxyrun's end-to-end tests run (pub/sub, non-MQTT closed,
// 100 sticky reconnects), and it passes the -c check.
func TestShippedConfigIsTheTestedOne(t *testing.T) {
	tested, err := os.ReadFile("../../internal/haproxyrun/testdata/emqx-sticky.cfg")
	require.NoError(t, err)
	assert.Equal(t, string(tested), string(shippedConfig))
	var out strings.Builder
	assert.Equal(t, 0, haproxyrun.Check("haproxy.cfg", &out), out.String())
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestRunEmbedded runs the program on a copy of the shipped file with
// free ports and embedded brokers on its server addresses: a client
// connects through it, and the program stops cleanly when its context
// ends.
func TestRunEmbedded(t *testing.T) {
	bind := "127.0.0.1:" + freePort(t)
	text := strings.NewReplacer(
		"127.0.0.1:1883", bind,
		"127.0.0.1:11883", "127.0.0.1:"+freePort(t),
		"127.0.0.1:11884", "127.0.0.1:"+freePort(t),
		"127.0.0.1:11885", "127.0.0.1:"+freePort(t),
		"127.0.0.1:8888", "127.0.0.1:"+freePort(t),
	).Replace(string(shippedConfig))
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-f", path, "-embedded", "-grace", "1s"}, nil, io.Discard) }()
	defer func() {
		cancel()
		assert.NoError(t, <-done)
	}()

	var conn net.Conn
	var err error
	for range 100 {
		if conn, err = net.Dial("tcp", bind); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, err)
	defer conn.Close()
	connect := []byte{0x10, 0x12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0, 0, 60, 0, 6, 'd', 'e', 'v', 'i', 'c', 'e'}
	_, err = conn.Write(connect)
	require.NoError(t, err)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	_, err = io.ReadFull(conn, ack)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x20, 2, 0, 0}, ack)
}
