package mqttlb

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/testnet"
)

// connect100MB is the start of a v5 CONNECT whose fixed header declares
// a remaining length of 100,000,000 bytes (varint 0x80 0xC2 0xD7 0x2F,
// MQTT 5.0 §1.5.5), followed by the protocol name and level only.
var connect100MB = func(version byte) []byte {
	return []byte{0x10, 0x80, 0xC2, 0xD7, 0x2F, 0x00, 0x04, 'M', 'Q', 'T', 'T', version, 0x02, 0x00, 0x3C}
}

// tlsClientHello is the start of a TLS 1.2 ClientHello record.
var tlsClientHello = []byte{0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03, 0x5B, 0x90}

// TestGarbageIsAnsweredCountedAndLoggedWithinTheCap sends each kind of
// garbage to the proxy many times and checks the answer on the wire, the
// refusal reason reported and logged, and the heap allocated per refused
// connection, which stays far below the CONNECT cap.
func TestGarbageIsAnsweredCountedAndLoggedWithinTheCap(t *testing.T) {
	pool := &Pool{Name: "brokers"}
	pool.SetBackends(backendsFor(holdingBackend(t)))
	events := newEventLog()
	var logs testnet.Buffer
	p := &Proxy{
		Default: pool, OnConn: events.add, ConnectTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	addr := startProxy(t, p)

	random := make([]byte, 256)
	rng := rand.NewChaCha8([32]byte{11})
	rng.Read(random)
	random[0] = 0xA7 // a reserved-for-servers type with wrong flags: never a CONNECT

	const perCase = 40
	// Bytes of heap per refused connection, both ends, the dial, the log
	// line and the event included: half the 64 KiB CONNECT cap, and some
	// 3,000 times less than the 100 MB a CONNECT may declare.
	const allocCap = 32 << 10
	for _, tc := range []struct {
		name   string
		wire   []byte
		stall  bool // keep the connection open after wire instead of half-closing
		answer []byte
		reason string
	}{
		{name: "random bytes", wire: random, reason: "not_mqtt"},
		{name: "http request", wire: []byte("GET /mqtt HTTP/1.1\r\nHost: broker\r\nUpgrade: websocket\r\n\r\n"), reason: "not_mqtt"},
		{name: "tls client hello", wire: tlsClientHello, reason: "not_mqtt"},
		{name: "truncated CONNECT then close", wire: connectWire(5, "truncated", 60)[:9], reason: "client_closed"},
		{name: "truncated CONNECT then silence", wire: connectWire(5, "stalled", 60)[:9], stall: true, reason: "connect_timeout"},
		{name: "v5 CONNECT over the cap", wire: bigConnect(5, 70<<10), answer: []byte{0x20, 3, 0, 0x95, 0}, reason: "too_large"},
		{name: "3.1.1 CONNECT over the cap", wire: bigConnect(4, 70<<10), reason: "too_large"},
		{name: "v5 CONNECT declaring 100 MB", wire: connect100MB(5), stall: true, answer: []byte{0x20, 3, 0, 0x95, 0}, reason: "too_large"},
		{name: "3.1.1 CONNECT declaring 100 MB", wire: connect100MB(4), stall: true, reason: "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(events.all())
			rejectsBefore := p.Stats().Proxy.Rejects[tc.reason]
			logsBefore := len(logs.String())
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			var wg sync.WaitGroup
			answers := make([][]byte, perCase)
			for i := range perCase {
				wg.Go(func() { answers[i] = sendGarbage(t, addr, tc.wire, tc.stall) })
			}
			wg.Wait()
			testnet.WaitFor(t, 5*time.Second, func() bool { return len(events.all()) >= before+perCase }, "every refusal reported")
			runtime.ReadMemStats(&ms1)
			perConn := (ms1.TotalAlloc - ms0.TotalAlloc) / perCase
			t.Logf("%d B of heap allocated per refused connection (client and proxy together)", perConn)
			assert.Less(t, perConn, uint64(allocCap))

			for i, got := range answers {
				assert.Equal(t, tc.answer, got, "connection %d", i)
			}
			for _, ev := range events.all()[before:] {
				assert.Equal(t, "refused", ev.End)
				assert.Equal(t, tc.reason, RefusalReason(ev.Err), "%v", ev.Err)
			}
			assert.EqualValues(t, perCase, p.Stats().Proxy.Rejects[tc.reason]-rejectsBefore, "counted")
			assert.Equal(t, perCase, bytes.Count([]byte(logs.String()[logsBefore:]), []byte("reason="+tc.reason)))
		})
	}
}

// sendGarbage writes wire to the proxy, then half-closes (or stalls) and
// returns every byte the proxy answered before closing.
func sendGarbage(t *testing.T, addr string, wire []byte, stall bool) []byte {
	conn, err := net.Dial("tcp", addr)
	if !assert.NoError(t, err) {
		return nil
	}
	defer conn.Close()
	_, werr := conn.Write(wire)
	if !stall && werr == nil {
		conn.(*net.TCPConn).CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "the proxy kept the connection open")
	if len(got) == 0 {
		return nil
	}
	return got
}

func TestReadConnectDoesNotAllocateTheDeclaredLength(t *testing.T) {
	wire := connect100MB(5)
	allocs := testing.AllocsPerRun(50, func() {
		client, server := net.Pipe()
		go func() { client.Write(wire); client.Close() }()
		_, version, err := ReadConnect(server, time.Second, 0)
		server.Close()
		require.ErrorIs(t, err, ErrTooLarge)
		require.EqualValues(t, 5, version)
	})
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	const runs = 200
	for range runs {
		client, server := net.Pipe()
		go func() { client.Write(wire); client.Close() }()
		ReadConnect(server, time.Second, 0)
		server.Close()
	}
	runtime.ReadMemStats(&ms1)
	perRun := (ms1.TotalAlloc - ms0.TotalAlloc) / runs
	t.Logf("ReadConnect of a CONNECT declaring 100 MB: %.0f allocations, %d B per run (pipe included)", allocs, perRun)
	assert.Less(t, perRun, uint64(4<<10))
}
