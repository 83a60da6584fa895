package mqttlb

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHandshakeWorkersAreKept: one client after another is served by
// the handshake goroutines already there, not by a new one each; and
// Close ends the idle ones.
func TestHandshakeWorkersAreKept(t *testing.T) {
	backend := rawBackend(t, drainUntilEOF)
	pool := &Pool{Name: "kept"}
	pool.SetBackends(backendsFor(backend))
	p := &Proxy{Default: pool}
	addr := startProxy(t, p)
	wire := connectWire(4, "kept-00000000", 0)
	ack := make([]byte, len(connackOK311))
	const clients = 50
	for i := range clients {
		numberID(wire, i)
		churnOnce(t, addr, wire, ack)
	}
	// A worker is idle again once its handshake is over; a client that
	// came back faster than that found none idle and got a new one.
	started := p.workers.started.Load()
	t.Logf("%d clients one after another: %d handshake goroutines started, %d idle", clients, started, p.workers.idle.Load())
	assert.Less(t, started, int64(clients/5), "workers started afresh for most clients")
	require.Eventually(t, func() bool { return p.workers.idle.Load() == int32(started) }, 5*time.Second, time.Millisecond)

	before := runtime.NumGoroutine()
	require.NoError(t, p.Close())
	assert.Zero(t, p.workers.idle.Load(), "idle workers after Close")
	assert.LessOrEqual(t, runtime.NumGoroutine(), before-int(started), "the idle workers' goroutines ended")
}
