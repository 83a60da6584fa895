//go:build linux

package mqttlb

import (
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/splice"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// TestRelayedConnectionKeepsNoConnObject: once a connection is relayed,
// the relay owns its socket and nothing keeps the net.Conn the proxy
// accepted: a held connection costs the relay's record, not also the Go
// objects of both of its connections (about 1 KB more per connection,
// measured when the relay's end callback still held them).
func TestRelayedConnectionKeepsNoConnObject(t *testing.T) {
	backend := rawBackend(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	pool := &Pool{Name: "held"}
	pool.SetBackends(backendsFor(backend))
	p := &Proxy{Default: pool, Logger: quietLogger()}
	t.Cleanup(func() { p.Close() })

	tl, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	ln := p.engine.Listener(tl)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer client.Close()

	var collected atomic.Bool
	accepted, err := ln.Accept()
	require.NoError(t, err)
	runtime.AddCleanup(accepted.(*splice.Conn), func(*atomic.Bool) { collected.Store(true) }, &collected)
	_, err = client.Write(connectWire(4, "held", 60))
	require.NoError(t, err)
	require.NoError(t, p.ServeConn(accepted))
	accepted = nil
	ack := make([]byte, len(connackOK311))
	_, err = io.ReadFull(client, ack)
	require.NoError(t, err, "the connection is relayed")

	testnet.WaitFor(t, 5*time.Second, func() bool {
		runtime.GC()
		return collected.Load()
	}, "the accepted Conn to be collected while its connection is relayed")
	// And the connection is still relayed, not ended.
	client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = client.Read(ack)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "the connection is still open: %v", err)
}
