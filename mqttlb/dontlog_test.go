package mqttlb

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mqttlb/mqttlb/internal/splice"
	"github.com/mqttlb/mqttlb/internal/testnet"
)

// TestDontLogNormal: with DontLogNormal, a connection that ends the usual
// way (CONNECT, CONNACK, DISCONNECT, close) writes no log line but still
// reaches OnConn and the statistics; a refused one is still logged.
// Without it, both are logged.
func TestDontLogNormal(t *testing.T) {
	for _, dontLog := range []bool{true, false} {
		t.Run(map[bool]string{true: "on", false: "off"}[dontLog], func(t *testing.T) {
			pool := &Pool{Name: "brokers"}
			pool.SetBackends(backendsFor(rawBackend(t, drainUntilEOF)))
			events := newEventLog()
			var logs testnet.Buffer
			p := &Proxy{Default: pool, OnConn: events.add, DontLogNormal: dontLog,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			addr := startProxy(t, p)

			ack := make([]byte, len(connackOK311))
			churnOnce(t, addr, connectWire(4, "quiet", 0), ack)
			require.Equal(t, connackOK311, ack)
			rawConnect(t, addr, []byte("GET / HTTP/1.1\r\n\r\n"))
			testnet.WaitFor(t, 5e9, func() bool { return len(events.all()) == 2 }, "both connections' ends")

			assert.Equal(t, !dontLog, strings.Contains(logs.String(), `msg="connection closed"`), "the normal end's line")
			assert.Contains(t, logs.String(), `msg="connection refused"`)
			assert.Equal(t, uint64(2), p.Stats().Proxy.Total, "both counted")
		})
	}
}

func TestNormalEnd(t *testing.T) {
	for _, tc := range []struct {
		ev     ConnEvent
		normal bool
	}{
		{ConnEvent{End: splice.EndClientClosed.String()}, true},
		{ConnEvent{End: splice.EndBackendClosed.String()}, true},
		{ConnEvent{End: splice.EndBackendClosed.String(), Redispatched: 1}, false},
		{ConnEvent{End: splice.EndClientError.String(), Err: io.ErrUnexpectedEOF}, false},
		{ConnEvent{End: splice.EndIdle.String()}, false},
		{ConnEvent{End: splice.EndKilled.String()}, false},
		{ConnEvent{End: endRefused, Err: ErrNotMQTT}, false},
	} {
		assert.Equal(t, tc.normal, normalEnd(&tc.ev), "%+v", tc.ev)
	}
}
