package testnet_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mqttlb/mqttlb/internal/testnet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestServeRunsTheHandlerPerConnection: each connection gets the handler,
// and the connection is closed when the handler returns.
func TestServeRunsTheHandlerPerConnection(t *testing.T) {
	addr := testnet.Serve(t, func(conn net.Conn) { conn.Write([]byte("hello")) })
	for range 3 {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(conn)
		require.NoError(t, err, "closed after the handler returned")
		assert.Equal(t, "hello", string(got))
		conn.Close()
	}
}

func TestBufferTakesConcurrentWrites(t *testing.T) {
	var b testnet.Buffer
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 100 {
				b.Write([]byte("x"))
			}
		}()
	}
	for range 4 {
		<-done
	}
	assert.Len(t, b.String(), 400)
}
