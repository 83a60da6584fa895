// Package testnet holds the helpers the module's tests share: loopback TCP
// peers (broker stand-ins with behaviours no real broker has, fault
// injectors and the like), a poller, a goroutine-safe output buffer and a
// test CA.
//
//	addr := testnet.Serve(t, func(conn net.Conn) {
//		io.Copy(io.Discard, conn) // a peer that only listens
//	})
//	testnet.WaitFor(t, 5*time.Second, func() bool { return done.Load() }, "the peer's end")
package testnet

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Serve listens on a free loopback port and runs handle for each
// connection, on a goroutine of its own, closing the connection when
// handle returns. When the test ends, the listener is closed and Serve's
// goroutines are waited for, so none outlives the test; a handler must
// return once its connection is closed or at its own deadline.
func Serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnet: listen: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				handle(conn)
			})
		}
	})
	return ln.Addr().String()
}

// WaitFor polls cond every 10 ms until it holds, failing the test with msg
// if it does not within timeout. The timeout only bounds a hung wait: a
// test must not depend on how fast cond comes true.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
