package mqttlb

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/cluster"
)

// startCluster starts n joined embedded brokers for the test.
func startCluster(t testing.TB, n int) *cluster.Cluster {
	t.Helper()
	c, err := cluster.Start(cluster.Config{Nodes: n, Logger: quietLogger()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// backendsFor returns one backend per address, named node1, node2, ...
func backendsFor(addrs ...string) []*balance.Backend {
	out := make([]*balance.Backend, len(addrs))
	for i, a := range addrs {
		out[i] = &balance.Backend{Name: "node" + string(rune('1'+i)), Addr: a}
	}
	return out
}

// startProxy serves p on a loopback listener until the test ends, then
// closes it and checks that Serve returned.
func startProxy(t testing.TB, p *Proxy) string { return startWrappedProxy(t, p, nil) }

// startWrappedProxy is startProxy with the listener wrapped by wrap, when
// wrap is not nil.
func startWrappedProxy(t testing.TB, p *Proxy, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	if p.Logger == nil {
		p.Logger = quietLogger()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var served net.Listener = ln
	if wrap != nil {
		served = wrap(ln)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(served) }()
	t.Cleanup(func() {
		p.Close()
		require.ErrorIs(t, <-done, ErrProxyClosed)
	})
	return ln.Addr().String()
}

// eventLog collects ConnEvents.
type eventLog struct {
	mu     sync.Mutex
	events []ConnEvent
	cond   *sync.Cond
}

func newEventLog() *eventLog {
	l := &eventLog{}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *eventLog) add(ev ConnEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
	l.cond.Broadcast()
}

func (l *eventLog) all() []ConnEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ConnEvent(nil), l.events...)
}

// rawConnect dials addr, sends wire and returns the connection and the
// first bytes answered (nil if the proxy closed without answering).
func rawConnect(t testing.TB, addr string, wire []byte) (net.Conn, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = c.Write(wire)
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	c.SetReadDeadline(time.Time{})
	if n == 0 && err != nil {
		if !errors.Is(err, io.EOF) {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "no answer within 5 s")
		}
		return c, nil
	}
	return c, buf[:n]
}

// connackOK is the CONNACK a broker sends to accept a 3.1.1 client
// without a session.
var connackOK311 = []byte{0x20, 2, 0x00, 0x00}

// closedAddr returns a loopback address with nothing listening.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// nodeHolding returns the name of the node the client ID is connected
// to, or "" if none.
func nodeHolding(nodes []*cluster.Node, clientID string) string {
	for _, n := range nodes {
		if n.HasClient(clientID) {
			return n.Name()
		}
	}
	return ""
}
