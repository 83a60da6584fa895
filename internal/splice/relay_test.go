package splice

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exchange sends up from client to backend and down the other way, both at
// once, writing in chunks of the given sizes (cycled) and reading with
// buffers of random sizes; it returns what each side received.
func exchange(t *testing.T, r *rig, up, down []byte, chunks []int, rng *rand.Rand) (gotUp, gotDown []byte) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	write := func(c net.Conn, data []byte) {
		defer wg.Done()
		for i := 0; len(data) > 0; i++ {
			n := min(chunks[i%len(chunks)], len(data))
			if _, err := c.Write(data[:n]); err != nil {
				errs <- err
				return
			}
			data = data[n:]
		}
	}
	read := func(c net.Conn, want int, got *[]byte, bufSize int) {
		defer wg.Done()
		buf := make([]byte, bufSize)
		for len(*got) < want {
			n, err := c.Read(buf[:min(bufSize, want-len(*got))])
			*got = append(*got, buf[:n]...)
			if err != nil {
				errs <- err
				return
			}
		}
	}
	wg.Add(4)
	go write(r.client, up)
	go write(r.backend, down)
	go read(r.backend, len(up), &gotUp, 1+rng.IntN(70000))
	go read(r.client, len(down), &gotDown, 1+rng.IntN(70000))
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return gotUp, gotDown
}

// checkExchange runs exchange, checks both streams arrived intact, ends the
// relay and checks its byte counts.
func checkExchange(t *testing.T, r *rig, up, down []byte, chunks []int, rng *rand.Rand) {
	t.Helper()
	gotUp, gotDown := exchange(t, r, up, down, chunks, rng)
	assert.True(t, bytes.Equal(up, gotUp), "client to backend differs")
	assert.True(t, bytes.Equal(down, gotDown), "backend to client differs")
	r.client.Close()
	r.backend.Close()
	res := r.wait(t)
	assert.Equal(t, int64(len(up)), res.Up)
	assert.Equal(t, int64(len(down)), res.Down)
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestRelayIsByteExactBothWays(t *testing.T) {
	sizes := []int{0, 1, 1000, 64<<10 + 7, 4 << 20}
	for _, m := range modes {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s/%d", m.name, size), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(size), 1))
				r := newRig(t, m, Config{})
				checkExchange(t, r, randomBytes(rng, size), randomBytes(rng, size+size/3), []int{1 << 20}, rng)
			})
		}
	}
}

// TestRelayRandomChunks varies write sizes and read sizes so that reads and
// writes straddle every kind of boundary.
func TestRelayRandomChunks(t *testing.T) {
	for _, m := range modes {
		for seed := range uint64(8) {
			t.Run(fmt.Sprintf("%s/seed%d", m.name, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 2))
				chunks := make([]int, 1+rng.IntN(20))
				for i := range chunks {
					chunks[i] = 1 + rng.IntN(1<<uint(1+rng.IntN(16)))
				}
				r := newRig(t, m, Config{ClientIdle: time.Minute})
				checkExchange(t, r, randomBytes(rng, rng.IntN(300_000)), randomBytes(rng, rng.IntN(300_000)), chunks, rng)
			})
		}
	}
}

func TestRelayHalfClose(t *testing.T) {
	for _, m := range tcpModes() {
		t.Run(m.name, func(t *testing.T) {
			// The idle timeout must not cut the backend's late answer.
			const idle = 200 * time.Millisecond
			r := newRig(t, m, Config{ClientIdle: idle})
			_, err := r.client.Write([]byte("last words"))
			require.NoError(t, err)
			require.NoError(t, r.client.(*net.TCPConn).CloseWrite())

			r.backend.SetReadDeadline(time.Now().Add(waitBound))
			got, err := io.ReadAll(r.backend)
			require.NoError(t, err, "backend must see the client's EOF")
			assert.Equal(t, "last words", string(got))

			// The backend still answers after the client's half-close.
			time.Sleep(2 * idle)
			_, err = r.backend.Write([]byte("answer after EOF"))
			require.NoError(t, err)
			require.NoError(t, r.backend.Close())
			r.client.SetReadDeadline(time.Now().Add(waitBound))
			got, err = io.ReadAll(r.client)
			require.NoError(t, err)
			assert.Equal(t, "answer after EOF", string(got))

			res := r.wait(t)
			assert.Equal(t, EndClientClosed, res.End)
			assert.Equal(t, int64(10), res.Up)
			assert.Equal(t, int64(16), res.Down)
			assert.NoError(t, res.Err)
		})
	}
}

func TestRelayBackendEndClosesClient(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name+"/eof", func(t *testing.T) {
			r := newRig(t, m, Config{})
			go r.backend.Write([]byte("bye"))
			r.client.SetReadDeadline(time.Now().Add(waitBound))
			buf := make([]byte, 3)
			_, err := io.ReadFull(r.client, buf)
			require.NoError(t, err)
			r.backend.Close()
			// The relay closes the client's connection: it reads EOF, not
			// a timeout.
			_, err = r.client.Read(buf)
			assert.ErrorIs(t, err, io.EOF)
			res := r.wait(t)
			assert.Equal(t, EndBackendClosed, res.End)
			assert.Equal(t, int64(3), res.Down)
		})
	}
	for _, m := range tcpModes() {
		t.Run(m.name+"/reset", func(t *testing.T) {
			r := newRig(t, m, Config{})
			require.NoError(t, r.backend.(*net.TCPConn).SetLinger(0))
			require.NoError(t, r.backend.Close())
			r.client.SetReadDeadline(time.Now().Add(waitBound))
			_, err := r.client.Read(make([]byte, 1))
			assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "client not closed: %v", err)
			res := r.wait(t)
			assert.Equal(t, EndBackendError, res.End)
			assert.Error(t, res.Err)
		})
	}
}

// TestRelayDeliversBeforeClosing checks that a backend's last burst reaches
// the client in full when the backend closes right after sending it.
func TestRelayDeliversBeforeClosing(t *testing.T) {
	for _, m := range tcpModes() {
		t.Run(m.name, func(t *testing.T) {
			r := newRig(t, m, Config{})
			data := randomBytes(rand.New(rand.NewPCG(3, 3)), 3<<20)
			go func() {
				r.backend.Write(data)
				r.backend.Close()
			}()
			r.client.SetReadDeadline(time.Now().Add(waitBound))
			got, err := io.ReadAll(r.client)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, got), "got %d of %d bytes", len(got), len(data))
			assert.Equal(t, EndBackendClosed, r.wait(t).End)
		})
	}
}

func TestRelayClientError(t *testing.T) {
	for _, m := range tcpModes() {
		t.Run(m.name, func(t *testing.T) {
			r := newRig(t, m, Config{})
			require.NoError(t, r.client.(*net.TCPConn).SetLinger(0))
			require.NoError(t, r.client.Close())
			r.backend.SetReadDeadline(time.Now().Add(waitBound))
			_, err := io.ReadAll(r.backend)
			assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "backend not closed")
			res := r.wait(t)
			assert.Equal(t, EndClientError, res.End)
			assert.Error(t, res.Err)
		})
	}
}

func TestRelayEndsWhenOwnerClosesAConn(t *testing.T) {
	for _, pipe := range []bool{false, true} {
		t.Run(fmt.Sprint("pipe=", pipe), func(t *testing.T) {
			clientOuter, clientInner, backendInner, backendOuter := relayEnds(t, pipe)
			defer clientOuter.Close()
			defer backendOuter.Close()
			res := startRelay(t, clientInner, backendInner, Config{})
			require.NoError(t, backendInner.Close())
			r := receive(t, res, "relay did not end")
			if !pipe {
				assert.Equal(t, EndKilled, r.End)
			}
		})
	}
}

func TestEndString(t *testing.T) {
	for end, want := range map[End]string{
		EndClientClosed: "client closed", EndBackendClosed: "backend closed",
		EndClientError: "client error", EndBackendError: "backend error",
		EndIdle: "client idle", EndKilled: "killed", 0: "unknown", 99: "unknown",
	} {
		assert.Equal(t, want, end.String())
	}
}
