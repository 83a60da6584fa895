package haproxyrun

import (
	"context"
	"errors"
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
	"github.com/mqttlb/mqttlb/internal/haproxycfg"
)

// weightedConfig is a configuration over the cluster's three nodes with
// the given weights.
func weightedConfig(c *cluster.Cluster, binds string, w1, w2, w3 int) string {
	a := c.Addrs()
	return fmt.Sprintf(`defaults
  mode tcp
  timeout connect 2s
backend brokers
  balance roundrobin
  server node1 %s weight %d
  server node2 %s weight %d
  server node3 %s weight %d
frontend mqtt
%s
  default_backend brokers
`, a[0], w1, a[1], w2, a[2], w3, binds)
}

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
	waitFor(t, 10*time.Second, func() bool { return r.Pool("brokers") != oldPool }, "the reload")
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

// TestReloadRefusesABadFile: a file with errors is refused with all of
// them, and the running configuration stays.
func TestReloadRefusesABadFile(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	path := writeTemp(t, weightedConfig(c, "  bind 127.0.0.1:0", 1, 1, 1))
	r := startRunner(t, path)
	addr := boundAddr(t, r, "127.0.0.1:0")
	pool := r.Pool("brokers")
	live := mqttConnect(t, addr, "", "bad-reload-live", true)

	writeConfig(t, path, weightedConfig(c, "  bind 127.0.0.1:0\n  use_backend nowhere\n  timeout client forever", 1, 300, 1))
	err := r.Reload()
	require.Error(t, err)
	var diags haproxycfg.Errors
	require.True(t, errors.As(err, &diags))
	assert.Equal(t, path+`:7: server node2: weight: 300 is out of range (0 to 256)
`+path+`:11: use_backend: backend "nowhere" does not exist
`+path+`:12: 'timeout client': invalid time "forever" (a number with an optional unit: us, ms, s, m, h, d; bare numbers are milliseconds)`, err.Error())

	assert.Same(t, pool, r.Pool("brokers"), "the running configuration stays")
	assert.NoError(t, ping(live))
	mqttConnect(t, addr, "", "bad-reload-new", true)
}

// TestReloadBinds: a reload keeps the addresses still bound, opens the
// new ones and closes the removed ones; connections accepted on a removed
// address stay up.
func TestReloadBinds(t *testing.T) {
	c := startCluster(t, cluster.Config{})
	path := writeTemp(t, weightedConfig(c, "  bind 127.0.0.1:0\n  bind 127.0.0.2:0", 1, 1, 1))
	r := startRunner(t, path)
	kept, removed := boundAddr(t, r, "127.0.0.1:0"), boundAddr(t, r, "127.0.0.2:0")
	onRemoved := mqttConnect(t, removed, "", "on-removed", true)

	writeConfig(t, path, weightedConfig(c, "  bind 127.0.0.1:0\n  bind 127.0.0.3:0", 1, 1, 1))
	require.NoError(t, r.Reload())
	assert.Equal(t, kept, boundAddr(t, r, "127.0.0.1:0"))
	added := boundAddr(t, r, "127.0.0.3:0")
	assert.NotContains(t, r.Addrs(), "127.0.0.2:0")

	mqttConnect(t, kept, "", "via-kept", true)
	mqttConnect(t, added, "", "via-added", true)
	_, err := net.DialTimeout("tcp", removed, time.Second)
	assert.Error(t, err, "the removed address is closed")
	assert.NoError(t, ping(onRemoved), "a connection accepted there stays")
}
