package mqttlb

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/balance"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// served connects a 3.1.1 client and requires the backend's CONNACK.
func served(t *testing.T, addr, id string) net.Conn {
	t.Helper()
	conn, answer := rawConnect(t, addr, connectWire(4, id, 60))
	require.Equal(t, connackOK311, answer, "client %s", id)
	return conn
}

// noAnswerWithin reports that conn gets no byte within d.
func noAnswerWithin(conn net.Conn, d time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(d))
	defer conn.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := conn.Read(b[:])
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxyMaxConnStopsAccepting(t *testing.T) {
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(holdingBackend(t)))
	p := &Proxy{Default: pool, MaxConn: 2}
	addr := startProxy(t, p)

	first := served(t, addr, "a")
	served(t, addr, "b")
	testnet.WaitFor(t, 5*time.Second, func() bool { return p.OpenConns() == 2 }, "two open connections")

	// The third waits in the kernel's backlog: connected, not answered.
	third := sendConnect(t, addr, "c")
	assert.True(t, noAnswerWithin(third, 300*time.Millisecond), "answered above MaxConn")

	first.Close()
	assert.Equal(t, connackOK311, awaitAnswer(t, third))
}

func TestServeMaxConnCapsOneListener(t *testing.T) {
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(holdingBackend(t)))
	p := &Proxy{Default: pool, Logger: quietLogger()}
	capped := startProxyWith(t, p, func(ln net.Listener) error { return p.ServeMaxConn(ln, 1) })
	open := startProxyWith(t, p, p.Serve)

	held := served(t, capped, "a")
	waiting := sendConnect(t, capped, "b")
	assert.True(t, noAnswerWithin(waiting, 300*time.Millisecond), "answered above the listener's cap")

	// The other listener is not capped.
	served(t, open, "c")
	served(t, open, "d")

	held.Close()
	assert.Equal(t, connackOK311, awaitAnswer(t, waiting))
}

// startProxyWith runs serve on a new loopback listener until the test
// ends; p is closed by the cleanup.
func startProxyWith(t *testing.T, p *Proxy, serve func(net.Listener) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- serve(ln) }()
	t.Cleanup(func() {
		p.Close()
		require.ErrorIs(t, <-served, ErrProxyClosed)
	})
	return ln.Addr().String()
}

func TestServeConnOverMaxConnAnswersQuotaExceeded(t *testing.T) {
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(holdingBackend(t)))
	p := &Proxy{Default: pool, MaxConn: 1, Logger: quietLogger()}
	defer p.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	serveOne := func() chan error {
		done := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			done <- p.ServeConn(c)
		}()
		return done
	}

	first := serveOne()
	conn, answer := rawConnect(t, ln.Addr().String(), connectWire(4, "a", 60))
	require.Equal(t, connackOK311, answer)
	require.NoError(t, <-first)
	second := serveOne()
	_, answer = rawConnect(t, ln.Addr().String(), connectWire(5, "b", 60))
	assert.Equal(t, []byte{0x20, 3, 0, 0x97, 0}, answer)
	assert.ErrorIs(t, <-second, ErrQuotaExceeded)
	conn.Close()
}

func TestBackendMaxConnQueue(t *testing.T) {
	full := func(queueTimeout time.Duration, maxQueue int) (string, *Pool) {
		pool := &Pool{Name: "brokers", QueueTimeout: queueTimeout, MaxQueue: maxQueue}
		pool.SetBackends([]*balance.Backend{{Name: "node1", Addr: holdingBackend(t), MaxConn: 1}})
		return startProxy(t, &Proxy{Default: pool}), pool
	}

	t.Run("waits for a slot", func(t *testing.T) {
		addr, pool := full(5*time.Second, 0)
		held := served(t, addr, "a")
		waiting := sendConnect(t, addr, "b")
		testnet.WaitFor(t, 5*time.Second, func() bool { return pool.Queued() == 1 }, "one queued connection")
		held.Close()
		assert.Equal(t, connackOK311, awaitAnswer(t, waiting))
	})
	t.Run("queue timeout answers server unavailable", func(t *testing.T) {
		addr, _ := full(200*time.Millisecond, 0)
		served(t, addr, "a")
		began := time.Now()
		_, answer := rawConnect(t, addr, connectWire(5, "b", 60))
		assert.Equal(t, []byte{0x20, 3, 0, 0x88, 0}, answer)
		assert.GreaterOrEqual(t, time.Since(began), 200*time.Millisecond)
	})
	t.Run("full queue refuses at once", func(t *testing.T) {
		addr, pool := full(5*time.Second, 1)
		served(t, addr, "a")
		sendConnect(t, addr, "b")
		testnet.WaitFor(t, 5*time.Second, func() bool { return pool.Queued() == 1 }, "one queued connection")
		_, answer := rawConnect(t, addr, connectWire(4, "c", 60))
		assert.Equal(t, []byte{0x20, 2, 0, 0x03}, answer)
	})
	t.Run("no queue when off", func(t *testing.T) {
		addr, _ := full(-1, 0)
		served(t, addr, "a")
		_, answer := rawConnect(t, addr, connectWire(4, "b", 60))
		assert.Equal(t, []byte{0x20, 2, 0, 0x03}, answer)
	})
}

// sendConnect dials addr and sends a 3.1.1 CONNECT without waiting for
// the answer.
func sendConnect(t *testing.T, addr, id string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = conn.Write(connectWire(4, id, 60))
	require.NoError(t, err)
	return conn
}

// awaitAnswer reads the 4-byte answer to a 3.1.1 CONNECT, within 5 s.
func awaitAnswer(t *testing.T, conn net.Conn) []byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer := make([]byte, 4)
	_, err := io.ReadFull(conn, answer)
	require.NoError(t, err)
	return answer
}
