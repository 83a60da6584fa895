package mqttlb

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/splice"
	"github.com/mqttlb/mqttlb/internal/testnet"
	"github.com/mqttlb/mqttlb/sticky"
)

func TestSetWeightRebuildsThePicker(t *testing.T) {
	pool := &Pool{Name: "p", Balancer: balance.RoundRobin{}}
	pool.SetBackends(backendsFor("127.0.0.1:1", "127.0.0.1:2"))
	count := func() map[string]int {
		out := map[string]int{}
		for range 60 {
			b, err := pool.Pick(balance.ConnInfo{})
			require.NoError(t, err)
			out[b.ID()]++
		}
		return out
	}
	assert.Equal(t, map[string]int{"node1": 30, "node2": 30}, count())
	require.True(t, pool.SetWeight("node1", 2))
	assert.Equal(t, map[string]int{"node1": 40, "node2": 20}, count())
	require.True(t, pool.SetWeight("node1", 0))
	assert.Equal(t, map[string]int{"node2": 60}, count(), "weight 0 takes it out of balancing")
	assert.Equal(t, 0, pool.Stats().Backends[0].Weight)
	require.True(t, pool.SetWeight("node1", 1000))
	assert.Equal(t, balance.MaxWeight, pool.Stats().Backends[0].Weight, "clamped")
	assert.False(t, pool.SetWeight("node9", 1))
}

func TestAddAndRemoveBackends(t *testing.T) {
	pool := &Pool{Name: "p", Balancer: balance.RoundRobin{}, Sticky: &sticky.Table{}}
	pool.SetBackends(backendsFor("127.0.0.1:1"))
	require.NoError(t, pool.AddBackend(&balance.Backend{Name: "node2", Addr: "127.0.0.1:2"}))
	require.ErrorIs(t, pool.AddBackend(&balance.Backend{Name: "node2", Addr: "127.0.0.1:3"}), ErrDuplicateBackend)
	assert.Equal(t, []string{"127.0.0.1:1", "127.0.0.1:2"}, pool.Addrs())
	picked := map[string]bool{}
	for range 4 {
		b, err := pool.Pick(balance.ConnInfo{})
		require.NoError(t, err)
		picked[b.ID()] = true
	}
	assert.Len(t, picked, 2, "the new backend takes connections")

	ref, _ := pool.Sticky.Acquire("dev", "node1", sticky.Session{Version: 4})
	pool.Sticky.Release(ref)
	b, ok := pool.StickyBackend("dev")
	require.True(t, ok)
	require.Equal(t, "node1", b)
	removed, err := pool.RemoveBackend("node1")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:1", removed.Addr)
	_, ok = pool.StickyBackend("dev")
	assert.False(t, ok, "its sticky entries go with it")
	_, err = pool.RemoveBackend("node1")
	assert.ErrorIs(t, err, ErrUnknownBackend)
	for range 4 {
		b, err := pool.Pick(balance.ConnInfo{})
		require.NoError(t, err)
		assert.Equal(t, "node2", b.ID())
	}
}

func TestClearSticky(t *testing.T) {
	pool := &Pool{Name: "p", Sticky: &sticky.Table{}}
	pool.SetBackends(backendsFor("127.0.0.1:1"))
	ref, _ := pool.Sticky.Acquire("dev", "node1", sticky.Session{Version: 4})
	pool.Sticky.Release(ref)
	assert.True(t, pool.ClearSticky("dev"))
	assert.False(t, pool.ClearSticky("dev"))
	_, ok := pool.StickyBackend("dev")
	assert.False(t, ok)
	assert.False(t, (&Pool{}).ClearSticky("dev"), "no table, nothing to clear")
}

func TestClosedSessionsAreKilledInTheStatistics(t *testing.T) {
	c := startCluster(t, 2)
	pool := &Pool{Name: "p", Balancer: balance.RoundRobin{}}
	pool.SetBackends(backendsFor(c.Addrs()...))
	events := newEventLog()
	p := &Proxy{Default: pool, OnConn: events.add}
	addr := startProxy(t, p)
	var conns []io.Reader
	for i := range 6 {
		conn, ack := rawConnect(t, addr, connectWire(4, fmt.Sprintf("c%d", i), 60))
		require.Equal(t, connackOK311, ack)
		conns = append(conns, conn)
	}
	testnet.WaitFor(t, 5*time.Second, func() bool { return pool.Stats().Backends[0].Current == 3 }, "three on node1")

	assert.Equal(t, 3, pool.Stats().Backends[0].Sessions)
	n, ok := pool.CloseSessions("node1", 100*time.Millisecond)
	require.True(t, ok)
	assert.Equal(t, 3, n)
	testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) == 3 }, "three ends")
	for _, ev := range events.all() {
		assert.Equal(t, "node1", ev.Backend)
		assert.Equal(t, splice.EndKilled.String(), ev.End)
		assert.Equal(t, "KD", TerminationCode(ev))
	}
	assert.Equal(t, int64(3), pool.Stats().Backends[1].Current, "node2's clients stay")
	assert.Equal(t, uint64(6), p.Stats().Proxy.Total)
	assert.Zero(t, pool.Stats().Backends[0].Current)
}

func TestTerminationCode(t *testing.T) {
	relayed := func(end splice.End) ConnEvent {
		return ConnEvent{Backend: "node1", Up: 20, End: end.String()}
	}
	refused := func(err error) ConnEvent { return ConnEvent{End: endRefused, Err: err} }
	for _, tc := range []struct {
		name string
		ev   ConnEvent
		want string
	}{
		{"client closed", relayed(splice.EndClientClosed), "CD"},
		{"client error", relayed(splice.EndClientError), "CD"},
		{"backend closed", relayed(splice.EndBackendClosed), "SD"},
		{"backend error", relayed(splice.EndBackendError), "SD"},
		{"idle", relayed(splice.EndIdle), "cD"},
		{"killed", relayed(splice.EndKilled), "KD"},
		{"CONNECT not forwarded", ConnEvent{Backend: "node1", End: splice.EndBackendError.String()}, "SC"},
		{"client left early", refused(ErrClientClosed), "CR"},
		{"CONNECT timeout", refused(ErrConnectTimeout), "cR"},
		{"not MQTT", refused(ErrNotMQTT), "PR"},
		{"malformed", refused(ErrMalformed), "PR"},
		{"moved", refused(&MovedError{Server: "x"}), "PR"},
		{"quota", refused(ErrQuotaExceeded), "RR"},
		{"no backend", refused(fmt.Errorf("%w: pool", ErrNoBackend)), "SC"},
		{"unknown", ConnEvent{End: "what"}, "--"},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, TerminationCode(tc.ev)) })
	}
}
