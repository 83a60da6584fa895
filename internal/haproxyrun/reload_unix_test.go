//go:build unix

package haproxyrun

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/cluster"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// TestReloadUnderLoad holds 1,000 live connections, keeps them busy with
// PINGREQs, and sends the process a real SIGHUP after changing the
// weights: every connection survives, and new connections follow the new
// weights.
func TestReloadUnderLoad(t *testing.T) {
	const n = 1000
	c := startCluster(t, cluster.Config{})
	nodes := c.Nodes()
	path := writeTemp(t, weightedConfig(c, "  bind 127.0.0.1:0", 1, 1, 1))
	r := New(path, quietLogger())
	require.NoError(t, r.Start())
	addr := boundAddr(t, r, "127.0.0.1:0")

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.ServeSignals(ctx, hup, time.Second) }()
	defer func() {
		cancel()
		assert.NoError(t, <-served)
	}()

	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				conns[i] = mqttConnect(t, addr, "", fmt.Sprintf("load-%04d", i), true)
			}
		})
	}
	wg.Wait()
	require.Equal(t, n, nodes[0].Clients()+nodes[1].Clients()+nodes[2].Clients())
	oldPool := r.Pool("brokers")

	// Keep every connection busy while the reload happens.
	stop := make(chan struct{})
	var pings, failures atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for {
				for i := w; i < n; i += workers {
					select {
					case <-stop:
						return
					default:
					}
					if err := ping(conns[i]); err != nil {
						failures.Add(1)
						t.Errorf("connection %d: %v", i, err)
						return
					}
					pings.Add(1)
				}
			}
		})
	}
	writeConfig(t, path, weightedConfig(c, "  bind 127.0.0.1:0", 5, 2, 3))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	testnet.WaitFor(t, 10*time.Second, func() bool { return r.Pool("brokers") != oldPool }, "the reload")
	time.Sleep(200 * time.Millisecond) // pings go on after the swap
	close(stop)
	wg.Wait()
	require.Zero(t, failures.Load())
	t.Logf("%d PINGREQ/PINGRESP round trips during the reload", pings.Load())

	for i, conn := range conns {
		require.NoError(t, ping(conn), "connection %d after the reload", i)
	}
	assert.Equal(t, n, nodes[0].Clients()+nodes[1].Clients()+nodes[2].Clients(), "no connection dropped")
	assert.Equal(t, addr, boundAddr(t, r, "127.0.0.1:0"), "the listener stays bound")

	counts, _ := placeClients(t, nodes, addr, "", "after", 20)
	assert.Equal(t, map[string]int{"node1": 10, "node2": 4, "node3": 6}, counts, "new connections follow the new weights")
}
