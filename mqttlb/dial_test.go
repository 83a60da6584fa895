package mqttlb

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// peerLog is a listener that records the source of every connection and
// keeps the connections open until the test ends.
type peerLog struct {
	mu    sync.Mutex
	peers []netip.AddrPort
	conns []net.Conn
}

func listenPeers(t *testing.T) (string, *peerLog) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	l := &peerLog{}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		l.mu.Lock()
		for _, c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.mu.Lock()
			l.peers = append(l.peers, addrPort(c.RemoteAddr()))
			l.conns = append(l.conns, c)
			l.mu.Unlock()
		}
	})
	return ln.Addr().String(), l
}

func (l *peerLog) sources() []netip.AddrPort {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]netip.AddrPort(nil), l.peers...)
}

func requireLinuxLoopbackRange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs every 127.0.0.0/8 address to be local, as on Linux")
	}
}

func TestSourceAddrsTakesAddressesInTurn(t *testing.T) {
	requireLinuxLoopbackRange(t)
	addr, peers := listenPeers(t)
	src := &SourceAddrs{Addrs: []netip.Addr{
		netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4"),
	}}
	const n = 30
	for range n {
		c, err := src.DialContext(context.Background(), "tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		assert.Equal(t, src.Addrs[0].Is4(), addrPort(c.LocalAddr()).Addr().Is4())
	}
	testnet.WaitFor(t, 5e9, func() bool { return len(peers.sources()) == n }, "every dial accepted")
	count := map[netip.Addr]int{}
	for _, p := range peers.sources() {
		count[p.Addr()]++
	}
	for _, a := range src.Addrs {
		assert.Equal(t, n/len(src.Addrs), count[a], "connections from %v", a)
	}
}

func TestSourceAddrsPortRange(t *testing.T) {
	requireLinuxLoopbackRange(t)
	addr, peers := listenPeers(t)
	// Find four free ports in a row: bind-probe them on this address.
	from := netip.MustParseAddr("127.0.0.5")
	lo := freePortRun(t, from, 4)
	src := &SourceAddrs{Addrs: []netip.Addr{from}, PortMin: lo, PortMax: lo + 3}
	var conns []net.Conn
	for range 4 {
		c, err := src.DialContext(context.Background(), "tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	// All four ports hold a connection to this destination: the fifth
	// dial finds none free.
	_, err := src.DialContext(context.Background(), "tcp", addr)
	require.ErrorIs(t, err, ErrSourcePorts)
	for _, c := range conns {
		c.Close()
	}
	testnet.WaitFor(t, 5e9, func() bool { return len(peers.sources()) == 4 }, "every dial accepted")
	for _, p := range peers.sources() {
		assert.Equal(t, from, p.Addr())
		assert.True(t, p.Port() >= lo && p.Port() <= lo+3, "port %d outside %d-%d", p.Port(), lo, lo+3)
	}
}

func TestSourceAddrsRejectsOtherNetworks(t *testing.T) {
	var src SourceAddrs
	_, err := src.DialContext(context.Background(), "udp", "127.0.0.1:1")
	assert.ErrorContains(t, err, "dials TCP")
}

// freePortRun returns the first of n consecutive ports that can be bound
// on addr right now.
func freePortRun(t *testing.T, addr netip.Addr, n int) uint16 {
	t.Helper()
	for start := uint16(41000); start < 60000; start += uint16(n) {
		ok := true
		for p := start; p < start+uint16(n) && ok; p++ {
			ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, p)))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return start
		}
	}
	t.Fatal("no run of free ports")
	return 0
}

// TestPoolDialsThroughSourceAddrs checks the wiring the docs show: a pool
// whose DialContext is a SourceAddrs' sends its backend connections from
// those addresses.
func TestPoolDialsThroughSourceAddrs(t *testing.T) {
	requireLinuxLoopbackRange(t)
	addr, peers := listenPeers(t)
	src := &SourceAddrs{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.6"), netip.MustParseAddr("127.0.0.7")}}
	pool := &Pool{Name: "src", DialContext: src.DialContext}
	pool.SetBackends(backendsFor(addr))
	for range 4 {
		up, err := pool.Dial(context.Background(), balance.ConnInfo{})
		require.NoError(t, err)
		t.Cleanup(func() { up.Conn.Close(); up.Release() })
	}
	testnet.WaitFor(t, 5e9, func() bool { return len(peers.sources()) == 4 }, "every dial accepted")
	count := map[string]int{}
	for _, p := range peers.sources() {
		count[p.Addr().String()]++
	}
	assert.Equal(t, map[string]int{"127.0.0.6": 2, "127.0.0.7": 2}, count)
}
