package splice

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkRelayThroughput pushes messages of one size from client to
// backend through each relay over loopback TCP, pipelined. iocopy is two
// goroutines with io.Copy, which moves TCP to TCP with splice(2) through a
// kernel pipe; relay and engine move bytes through pooled buffers.
//
//	go test -run '^$' -bench RelayThroughput -benchtime 2s ./internal/splice
func BenchmarkRelayThroughput(b *testing.B) {
	relays := []struct {
		name  string
		start func(b *testing.B, client, backend net.Conn)
	}{
		{"iocopy", func(_ *testing.B, client, backend net.Conn) { go naiveRelay(client, backend) }},
		{"relay", func(b *testing.B, client, backend net.Conn) {
			startRelay(b, client, backend, Config{ClientIdle: time.Minute})
		}},
		{"engine", func(b *testing.B, client, backend net.Conn) {
			startEngine(b, client, backend, Config{ClientIdle: time.Minute})
		}},
	}
	for _, size := range []int{64, 1 << 10, 16 << 10, 1 << 20} {
		for _, relay := range relays {
			b.Run(fmt.Sprintf("%s/%d", relay.name, size), func(b *testing.B) {
				clientOuter, clientInner := tcpPair(b)
				backendInner, backendOuter := tcpPair(b)
				defer clientOuter.Close()
				defer backendOuter.Close()
				relay.start(b, clientInner, backendInner)
				msg := make([]byte, size)
				sink := make([]byte, 64<<10)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				go func() {
					for range b.N {
						if _, err := clientOuter.Write(msg); err != nil {
							return
						}
					}
				}()
				if _, err := io.CopyBuffer(io.Discard, io.LimitReader(backendOuter, int64(b.N)*int64(size)), sink); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			})
		}
	}
}

// BenchmarkRelayRoundTrip measures one 64-byte message through the relay
// and one back, as an MQTT PUBLISH and its PUBACK.
func BenchmarkRelayRoundTrip(b *testing.B) {
	for _, m := range tcpModes() {
		b.Run(m.name, func(b *testing.B) {
			r := newRig(b, m, Config{ClientIdle: time.Minute})
			msg, got := make([]byte, 64), make([]byte, 64)
			b.ReportAllocs()
			for b.Loop() {
				r.client.Write(msg)
				io.ReadFull(r.backend, got)
				r.backend.Write(msg)
				io.ReadFull(r.client, got)
			}
		})
	}
}
