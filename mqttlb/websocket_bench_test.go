package mqttlb

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// benchChunk is the size of each write: a 16 KiB PUBLISH, as in the
// pub/sub throughput target of shared/DESIGN.md §5.
const benchChunk = 16 << 10

// BenchmarkRelayThroughput moves b.N chunks of 16 KiB through the proxy,
// client to backend ("up") and backend to client ("down"), for a TCP
// client, a WebSocket client bridged to a TCP backend, and a WebSocket
// client re-framed to a WebSocket backend. MB/s compares the transports.
//
//	go test -run '^$' -bench RelayThroughput -benchtime 2000x ./mqttlb
func BenchmarkRelayThroughput(b *testing.B) {
	for _, tr := range []struct {
		name      string
		wsClient  bool
		wsBackend bool
	}{
		{"tcp", false, false},
		{"ws-to-tcp", true, false},
		{"ws-to-ws", true, true},
	} {
		for _, up := range []bool{true, false} {
			dir := "down"
			if up {
				dir = "up"
			}
			b.Run(tr.name+"/"+dir, func(b *testing.B) {
				benchRelay(b, tr.wsClient, tr.wsBackend, up)
			})
		}
	}
}

func benchRelay(b *testing.B, wsClient, wsBackend, up bool) {
	total := int64(b.N) * benchChunk
	chunk := make([]byte, benchChunk)
	backendLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	pool := &Pool{Name: "bench"}
	pool.SetBackends(backendsFor(backendLn.Addr().String()))
	var accept net.Listener = backendLn
	var wg sync.WaitGroup
	if wsBackend {
		wsl := &WebSocketListener{Logger: quietLogger()}
		wg.Go(func() { wsl.Serve(backendLn) })
		accept = wsl
		pool.DialContext = (&WebSocketDialer{}).DialContext
	}
	defer func() { accept.Close(); wg.Wait() }()

	// The backend answers the CONNECT, then sinks (up) or sources (down)
	// total bytes and sends one byte to say it is done.
	wg.Go(func() {
		conn, err := accept.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		if !answerConnect(conn) {
			return
		}
		if up {
			io.CopyN(io.Discard, conn, total)
			conn.Write([]byte{1})
			return
		}
		for range b.N {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	})

	p := &Proxy{Default: pool}
	var dial func(testing.TB) net.Conn
	if wsClient {
		dial = wsDialer("ws://"+startWSProxy(b, p, &WebSocketListener{}, nil)+"/mqtt", nil)
	} else {
		dial = tcpDialer(startProxy(b, p))
	}
	conn := dial(b)
	defer conn.Close()
	_, err = conn.Write(connectWire(4, "bench", 0))
	require.NoError(b, err)
	ack := make([]byte, len(connackOK311))
	_, err = io.ReadFull(conn, ack)
	require.NoError(b, err)

	b.SetBytes(benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	if up {
		for range b.N {
			_, err := conn.Write(chunk)
			require.NoError(b, err)
		}
		_, err = io.ReadFull(conn, ack[:1])
	} else {
		_, err = io.CopyN(io.Discard, conn, total)
	}
	b.StopTimer()
	require.NoError(b, err)
}
