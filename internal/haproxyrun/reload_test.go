package haproxyrun

import (
	"errors"
	"fmt"
	"net"
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
