package mqttlb

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/faultshim"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// firstPool is a pool that always tries its backends in order (balance
// First without MaxConn), so a test knows which backend is tried first.
func firstPool(t *testing.T, connackTimeout time.Duration, addrs ...string) (*Pool, *eventLog, string) {
	t.Helper()
	pool := &Pool{Name: "brokers", Balancer: balance.First{}, DialTimeout: 200 * time.Millisecond,
		ConnackTimeout: connackTimeout, Logger: quietLogger()}
	pool.SetBackends(backendsFor(addrs...))
	events := newEventLog()
	addr := startProxy(t, &Proxy{Default: pool, OnConn: events.add})
	return pool, events, addr
}

// lastEvent waits for the proxy to report n connections and returns the
// last.
func lastEvent(t *testing.T, events *eventLog, n int) ConnEvent {
	t.Helper()
	testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) >= n }, "the connection's end")
	all := events.all()
	return all[len(all)-1]
}

func TestDialTimeoutRedispatches(t *testing.T) {
	pool, events, addr := firstPool(t, 0, faultshim.Unresponsive(t), holdingBackend(t))
	began := time.Now()
	conn, answer := rawConnect(t, addr, connectWire(4, "a", 60))
	require.Equal(t, connackOK311, answer)
	assert.GreaterOrEqual(t, time.Since(began), 200*time.Millisecond, "the dial timeout was waited for")
	conn.Close()
	ev := lastEvent(t, events, 1)
	assert.Equal(t, "node2", ev.Backend)
	assert.Equal(t, 1, ev.Redispatched)
	assert.EqualValues(t, 1, pool.Counters().Redispatches)
}

// TestConnackTimeoutRedispatches: the first backend accepts the TCP
// connection but breaks before its CONNACK; with ConnackTimeout on, the
// client is sent to the second backend and never notices.
func TestConnackTimeoutRedispatches(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faultshim.Fault
	}{
		{"blackhole", faultshim.Fault{Mode: faultshim.Blackhole}},
		{"half-open", faultshim.Fault{Mode: faultshim.HalfOpen}},
		{"drop", faultshim.Fault{Mode: faultshim.Drop}},
		{"reset", faultshim.Fault{Mode: faultshim.Reset}},
		{"delay beyond the timeout", faultshim.Fault{Mode: faultshim.Delay, Delay: 600 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shim := faultshim.Start(t, holdingBackend(t))
			shim.Set(tc.fault)
			_, events, addr := firstPool(t, 300*time.Millisecond, shim.Addr(), holdingBackend(t))
			conn, answer := rawConnect(t, addr, connectWire(4, "a", 60))
			require.Equal(t, connackOK311, answer)
			conn.Close()
			ev := lastEvent(t, events, 1)
			assert.Equal(t, "node2", ev.Backend)
			assert.Equal(t, 1, ev.Redispatched)
		})
	}
	t.Run("every backend silent", func(t *testing.T) {
		var addrs []string
		for range 2 {
			shim := faultshim.Start(t, holdingBackend(t))
			shim.Set(faultshim.Fault{Mode: faultshim.Blackhole})
			addrs = append(addrs, shim.Addr())
		}
		_, events, addr := firstPool(t, 200*time.Millisecond, addrs...)
		_, answer := rawConnect(t, addr, connectWire(5, "a", 60))
		assert.Equal(t, []byte{0x20, 3, 0, 0x88, 0}, answer)
		assert.Equal(t, "no_backend", RefusalReason(lastEvent(t, events, 1).Err))
	})
}

// TestConnackTimeoutKeepsTheStreamExact: a backend that sends its
// CONNACK and more packets in one write; the proxy reads the CONNACK
// alone, and the relay delivers the rest, byte for byte.
func TestConnackTimeoutKeepsTheStreamExact(t *testing.T) {
	// A PUBLISH QoS 0 on topic "t" with payload "hello", then a PINGRESP.
	after := []byte{0x30, 8, 0, 1, 't', 'h', 'e', 'l', 'l', 'o', 0xD0, 0}
	backend := rawBackend(t, func(conn net.Conn) {
		conn.Write(after)
		io.Copy(io.Discard, conn)
	})
	_, events, addr := firstPool(t, time.Second, backend)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, err = conn.Write(connectWire(4, "a", 60))
	require.NoError(t, err)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(connackOK311)+len(after))
	_, err = io.ReadFull(conn, got)
	require.NoError(t, err)
	assert.Equal(t, append(append([]byte(nil), connackOK311...), after...), got)
	conn.Close()
	ev := lastEvent(t, events, 1)
	assert.EqualValues(t, len(got), ev.Down)
}

// TestBackendDiesMidMessage: the backend streams 1 MiB after its CONNACK
// and its connection breaks after 300,000 bytes. The client gets an
// exact prefix of the stream, never an altered byte, and is closed at
// once when the break is visible (FIN or reset); a backend gone silent
// (half-open) leaves the client with the exact prefix and nothing more,
// to be noticed by MQTT keep-alive.
func TestBackendDiesMidMessage(t *testing.T) {
	payload := randomPayload(1<<20, 7)
	stream := append(append([]byte(nil), connackOK311...), payload...)
	const breakAt = 300_000
	for _, tc := range []struct {
		name      string
		mode      faultshim.Mode
		connack   time.Duration
		wantOpen  bool // the client stays connected (half-open backend)
		wantExact bool // the client gets exactly breakAt bytes
	}{
		{"drop", faultshim.Drop, 0, false, true},
		{"drop with CONNACK timeout", faultshim.Drop, time.Second, false, true},
		{"reset", faultshim.Reset, 0, false, false},
		{"half-open", faultshim.HalfOpen, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backend := rawBackend(t, func(conn net.Conn) {
				conn.Write(payload)
				io.Copy(io.Discard, conn)
			})
			shim := faultshim.Start(t, backend)
			shim.Set(faultshim.Fault{Mode: tc.mode, After: breakAt})
			_, events, addr := firstPool(t, tc.connack, shim.Addr())

			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer conn.Close()
			_, err = conn.Write(connectWire(4, "a", 60))
			require.NoError(t, err)
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			got := make([]byte, 0, breakAt)
			buf := make([]byte, 64<<10)
			var readErr error
			for {
				n, err := conn.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					readErr = err
					break
				}
			}
			require.LessOrEqual(t, len(got), breakAt)
			assert.Equal(t, stream[:len(got)], got, "a byte was altered")
			if tc.wantExact {
				assert.Len(t, got, breakAt)
			}
			if tc.wantOpen {
				assert.ErrorIs(t, readErr, os.ErrDeadlineExceeded)
				return
			}
			assert.False(t, errors.Is(readErr, os.ErrDeadlineExceeded), "the client was not closed: %v", readErr)
			ev := lastEvent(t, events, 1)
			assert.NotEqual(t, "refused", ev.End)
			t.Logf("client got %d bytes, then %v; proxy: %s, %v", len(got), readErr, ev.End, ev.Err)
		})
	}
}
