package splice

import (
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientIdleFakeClock drives the idle timeout on net.Pipe inside a
// synctest bubble: a client that pings every 5 s for 30 s is kept, and the
// relay ends exactly 10 s after its last byte.
func TestClientIdleFakeClock(t *testing.T) {
	for _, name := range []string{"relay", "engine"} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				clientOuter, clientInner := net.Pipe()
				backendInner, backendOuter := net.Pipe()
				defer clientOuter.Close()
				defer backendOuter.Close()
				go io.Copy(io.Discard, backendOuter)
				var e Engine
				defer e.Close()
				res := make(chan Result, 1)
				cfg := Config{ClientIdle: 10 * time.Second}
				if name == "relay" {
					go func() { res <- Relay(clientInner, backendInner, cfg) }()
				} else {
					e.Start(clientInner, backendInner, cfg, func(r Result) { res <- r })
				}

				for range 6 {
					time.Sleep(5 * time.Second)
					_, err := clientOuter.Write([]byte{0xC0, 0x00}) // PINGREQ
					require.NoError(t, err)
				}
				lastByte := time.Now()
				synctest.Wait()
				require.Empty(t, res, "relay cut a client that kept sending")

				r := <-res
				assert.Equal(t, EndIdle, r.End)
				assert.Equal(t, 10*time.Second, time.Since(lastByte))
				assert.Equal(t, int64(12), r.Up)
				_, err := clientOuter.Read(make([]byte, 1))
				assert.ErrorIs(t, err, io.EOF, "client connection not closed")
			})
		})
	}
}

// TestClientIdleRealSockets checks the idle timeout on real sockets, where
// synctest cannot help: the bounds are generous, only order is asserted.
func TestClientIdleRealSockets(t *testing.T) {
	const idle = 400 * time.Millisecond
	for _, m := range tcpModes() {
		t.Run(m.name, func(t *testing.T) {
			r := newRig(t, m, Config{ClientIdle: idle})
			go io.Copy(io.Discard, r.backend)
			var lastByte time.Time
			for range 12 {
				time.Sleep(idle / 8)
				lastByte = time.Now()
				_, err := r.client.Write([]byte{0xC0, 0x00})
				require.NoError(t, err)
			}
			require.False(t, r.ended(), "relay cut a client that kept sending")
			res := r.wait(t)
			assert.Equal(t, EndIdle, res.End)
			// The relay read the last byte after lastByte, so it may not
			// end sooner than idle after it.
			assert.GreaterOrEqual(t, time.Since(lastByte), idle)
			r.client.SetReadDeadline(time.Now().Add(waitBound))
			_, err := r.client.Read(make([]byte, 1))
			assert.ErrorIs(t, err, io.EOF, "client connection not closed")
		})
	}
}

// TestClientIdleIgnoresBackendTraffic: only the client's bytes count as
// activity; a chatty backend does not keep a silent client alive.
func TestClientIdleIgnoresBackendTraffic(t *testing.T) {
	const idle = 300 * time.Millisecond
	for _, m := range tcpModes() {
		t.Run(m.name, func(t *testing.T) {
			r := newRig(t, m, Config{ClientIdle: idle})
			go io.Copy(io.Discard, r.client)
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(idle / 10):
						if _, err := r.backend.Write([]byte("x")); err != nil {
							return
						}
					}
				}
			}()
			assert.Equal(t, EndIdle, r.wait(t).End)
		})
	}
}
