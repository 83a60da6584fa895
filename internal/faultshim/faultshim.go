// Package faultshim is a TCP forwarder for tests that breaks connections
// on purpose: it stands between a proxy and a real broker and delays,
// drops, resets, freezes or swallows the traffic.
//
//	shim := faultshim.Start(t, broker.Addr())
//	shim.Set(faultshim.Fault{Mode: faultshim.Drop, After: 4096})
//	pool.SetBackends([]*balance.Backend{{Addr: shim.Addr()}})
//
// A Fault applies to the connections accepted after Set; After counts the
// bytes forwarded from the broker to the client side of each connection.
// Everything listens on 127.0.0.1 and is closed by a t.Cleanup.
package faultshim

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Mode is what the shim does to a connection.
type Mode int

const (
	// Pass forwards both ways unchanged.
	Pass Mode = iota
	// Delay holds each chunk for Fault.Delay before forwarding it, both
	// ways, as a slow network.
	Delay
	// Drop closes both sides (FIN) once After bytes went to the client.
	Drop
	// Reset closes both sides with a TCP reset (SO_LINGER 0) once After
	// bytes went to the client, as a crashed host's kernel would.
	Reset
	// HalfOpen stops forwarding once After bytes went to the client but
	// keeps both sockets open, as a host that vanished from the network.
	HalfOpen
	// Blackhole accepts connections and never forwards a byte, nor dials
	// the broker: a hung process whose kernel still accepts.
	Blackhole
)

// Fault configures the shim's behaviour for new connections.
type Fault struct {
	Mode Mode
	// After is the number of bytes from the broker forwarded before Drop,
	// Reset or HalfOpen strikes; 0 strikes at once.
	After int64
	// Delay is the per-chunk delay of Mode Delay.
	Delay time.Duration
}

// Shim is a running fault-injecting forwarder. Its methods are safe for
// concurrent use.
type Shim struct {
	target string
	ln     net.Listener

	mu     sync.Mutex
	fault  Fault
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Start listens on a loopback port and forwards each connection to
// target, applying the current Fault. The test's cleanup closes the shim
// and every connection it holds.
func Start(t testing.TB, target string) *Shim {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultshim: %v", err)
	}
	s := &Shim{target: target, ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Go(s.acceptLoop)
	t.Cleanup(s.Close)
	return s
}

// Addr is the address to dial instead of the broker's.
func (s *Shim) Addr() string { return s.ln.Addr().String() }

// Set changes the fault applied to connections accepted from now on.
func (s *Shim) Set(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// Open returns the number of connections the shim holds open now, on
// either side.
func (s *Shim) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops the shim and closes every connection it holds.
func (s *Shim) Close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Shim) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.closed {
			return false
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
}

func (s *Shim) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		f := s.fault
		s.mu.Unlock()
		if !s.track(c, true) {
			c.Close()
			return
		}
		s.wg.Go(func() { s.serve(c, f) })
	}
}

// serve runs one connection: client is the side that dialed the shim.
func (s *Shim) serve(client net.Conn, f Fault) {
	defer s.track(client, false)
	defer client.Close()
	if f.Mode == Blackhole {
		io.Copy(io.Discard, client)
		return
	}
	broker, err := net.Dial("tcp", s.target)
	if err != nil {
		return
	}
	defer broker.Close()
	if !s.track(broker, true) {
		return
	}
	defer s.track(broker, false)

	var frozen atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() { forward(broker, client, Fault{Mode: f.Mode, Delay: f.Delay, After: -1}, &frozen) })
	forward(client, broker, f, &frozen)
	if f.Mode == HalfOpen {
		// Keep both sockets, swallowing what the client side still
		// sends, until it or the shim closes them.
		frozen.Store(true)
		wg.Wait()
	}
	client.Close()
	broker.Close()
	wg.Wait()
}

// forward copies from src to dst, applying f; After < 0 means the fault
// never strikes in this direction. While frozen, what src sends is
// discarded.
func forward(dst, src net.Conn, f Fault, frozen *atomic.Bool) {
	buf := make([]byte, 32<<10)
	var sent int64
	strike := func() bool { return f.After >= 0 && sent >= f.After && f.Mode >= Drop }
	for !strike() {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if f.After >= 0 && f.Mode >= Drop {
				chunk = chunk[:min(int64(n), f.After-sent)]
			}
			if f.Mode == Delay {
				time.Sleep(f.Delay)
			}
			if !frozen.Load() {
				if _, werr := dst.Write(chunk); werr != nil {
					return
				}
				sent += int64(len(chunk))
			}
		}
		if err != nil {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && errors.Is(err, io.EOF) {
				cw.CloseWrite()
			}
			return
		}
	}
	switch f.Mode {
	case Reset:
		for _, c := range []net.Conn{dst, src} {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
		}
		dst.Close()
		src.Close()
	case Drop:
		dst.Close()
		src.Close()
	}
}
