package mqttlb

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShutdownEndsWhenClientsLeaveByThemselves is the bench harness's
// case: the clients close while the proxy is still tearing their relays
// down, and SIGTERM arrives in between. Shutdown had snapshotted the live
// connections and slept out a slot for each, long after all had ended
// (9 s with the example's 10 s grace, past the harness's 5 s SIGKILL).
func TestShutdownEndsWhenClientsLeaveByThemselves(t *testing.T) {
	backend := rawBackend(t, drainUntilEOF)
	pool := &Pool{}
	pool.SetBackends(backendsFor(backend))
	proxy := &Proxy{Default: pool, Logger: quietLogger()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- proxy.Serve(ln) }()

	const n = 50
	conns := make([]net.Conn, n)
	for i := range conns {
		conn, ack := rawConnect(t, ln.Addr().String(), connectWire(4, fmt.Sprintf("leaving-%02d", i), 0))
		require.Equal(t, connackOK311, ack)
		conns[i] = conn
	}
	// The clients leave just after Shutdown has taken its snapshot; with
	// a 60 s window the first slot alone would be over a second.
	time.AfterFunc(100*time.Millisecond, func() {
		for _, c := range conns {
			c.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, proxy.Shutdown(ctx))
	assert.Less(t, time.Since(start), 20*time.Second, "Shutdown slept out its window after every connection had ended")
	require.ErrorIs(t, <-served, ErrProxyClosed)
}
