package splice

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestEngineCloseEndsEverySession(t *testing.T) {
	const tcpSessions, pipeSessions = 150, 20
	e := &Engine{Loops: 3}
	var outers []net.Conn
	defer func() {
		for _, c := range outers {
			c.Close()
		}
	}()
	calls := make([]atomic.Int32, tcpSessions+pipeSessions)
	ends := make(chan End, tcpSessions+pipeSessions)
	var clients []net.Conn
	for i := range tcpSessions + pipeSessions {
		var clientOuter, clientInner, backendInner, backendOuter net.Conn
		if i < tcpSessions {
			clientOuter, clientInner = tcpPair(t)
			backendInner, backendOuter = tcpPair(t)
		} else {
			clientOuter, clientInner = net.Pipe()
			backendInner, backendOuter = net.Pipe()
		}
		outers = append(outers, clientOuter, backendOuter)
		clients = append(clients, clientOuter)
		e.Start(clientInner, backendInner, Config{ClientIdle: time.Hour}, func(r Result) {
			calls[i].Add(1)
			ends <- r.End
		})
	}
	// Some sessions carry a byte before the close.
	for i := 0; i < tcpSessions; i += 10 {
		_, err := clients[i].Write([]byte{0xC0, 0x00})
		require.NoError(t, err)
	}
	require.NoError(t, e.Close())
	for i := range calls {
		assert.Equal(t, int32(1), calls[i].Load(), "session %d: done calls", i)
	}
	close(ends)
	for end := range ends {
		assert.Equal(t, EndKilled, end)
	}
	for i := 0; i < tcpSessions; i += 7 {
		clients[i].SetReadDeadline(time.Now().Add(waitBound))
		_, err := io.ReadAll(clients[i])
		assert.NoError(t, err, "client %d must see its connection closed", i)
	}
	goleak.VerifyNone(t)

	// A closed engine refuses new pairs and closes them.
	clientOuter, clientInner := tcpPair(t)
	backendInner, backendOuter := tcpPair(t)
	defer clientOuter.Close()
	defer backendOuter.Close()
	var got Result
	e.Start(clientInner, backendInner, Config{}, func(r Result) { got = r })
	assert.Equal(t, EndKilled, got.End)
	assert.ErrorIs(t, got.Err, ErrEngineClosed)
	_, err := clientOuter.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
}

func TestSessionClose(t *testing.T) {
	for _, pipe := range []bool{false, true} {
		name := map[bool]string{false: "tcp", true: "pipe"}[pipe]
		t.Run(name, func(t *testing.T) {
			clientOuter, clientInner, backendInner, backendOuter := relayEnds(t, pipe)
			defer clientOuter.Close()
			defer backendOuter.Close()
			var e Engine
			defer e.Close()
			res := make(chan Result, 1)
			s := e.Start(clientInner, backendInner, Config{}, func(r Result) { res <- r })

			go clientOuter.Write([]byte("ping"))
			got := make([]byte, 4)
			backendOuter.SetReadDeadline(time.Now().Add(waitBound))
			_, err := io.ReadFull(backendOuter, got)
			require.NoError(t, err)
			assert.Eventually(t, func() bool { return s.Up() == 4 }, waitBound, time.Millisecond)
			assert.Equal(t, int64(0), s.Down())

			s.Close()
			s.Close()
			r := receive(t, res, "session did not end")
			assert.Equal(t, EndKilled, r.End)
			assert.NoError(t, r.Err)
			assert.Equal(t, int64(4), r.Up)
			clientOuter.SetReadDeadline(time.Now().Add(waitBound))
			_, err = clientOuter.Read(got)
			assert.ErrorIs(t, err, io.EOF)
		})
	}
}

// TestEngineOwnsSocketsAfterStart: closing the net.Conns given to Start does
// not end a kernel-socket session; the engine relays on its own copies.
func TestEngineOwnsSocketsAfterStart(t *testing.T) {
	clientOuter, clientInner := tcpPair(t)
	backendInner, backendOuter := tcpPair(t)
	defer clientOuter.Close()
	defer backendOuter.Close()
	var e Engine
	defer e.Close()
	e.Start(clientInner, backendInner, Config{}, func(Result) {})
	clientInner.Close()
	backendInner.Close()
	_, err := clientOuter.Write([]byte("still here"))
	require.NoError(t, err)
	got := make([]byte, 10)
	backendOuter.SetReadDeadline(time.Now().Add(waitBound))
	_, err = io.ReadFull(backendOuter, got)
	require.NoError(t, err)
	assert.Equal(t, "still here", string(got))
}

// TestRelaySmallMessagesDoNotAllocate: relaying a 64-byte message costs no
// allocation in steady state, on either path.
func TestRelaySmallMessagesDoNotAllocate(t *testing.T) {
	for _, m := range tcpModes() {
		t.Run(m.name, func(t *testing.T) {
			r := newRig(t, m, Config{ClientIdle: time.Minute})
			msg := make([]byte, 64)
			got := make([]byte, 64)
			roundTrip := func() {
				if _, err := r.client.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(r.backend, got); err != nil {
					t.Fatal(err)
				}
				if _, err := r.backend.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(r.client, got); err != nil {
					t.Fatal(err)
				}
			}
			for range 100 {
				roundTrip()
			}
			allocs := testing.AllocsPerRun(200, roundTrip)
			if !raceEnabled {
				assert.Zero(t, allocs)
			}
		})
	}
}
