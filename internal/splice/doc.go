// Package splice relays bytes both ways between a client connection and a
// backend connection once the proxy has chosen where the client goes.
//
// [Relay] is the portable form: it relays any pair of net.Conns on two
// goroutines and returns when both directions are done.
//
//	res := splice.Relay(client, backend, splice.Config{ClientIdle: 90 * time.Second})
//	log.Printf("up %d down %d: %s", res.Up, res.Down, res.End)
//
// An [Engine] holds many pairs cheaply. On Linux, pairs of kernel sockets
// are served by a few epoll event loops: an idle pair holds its two
// descriptors and a small record, and no goroutine, buffer, pipe or runtime
// timer. Other pairs fall back to Relay on an engine goroutine.
//
//	var engine splice.Engine
//	defer engine.Close()
//	sess := engine.Start(client, backend, cfg, func(res splice.Result) {
//		log.Printf("up %d down %d: %s", res.Up, res.Down, res.End)
//	})
//	_ = sess.Close // ends the relay early, e.g. to drain a backend
//
// Connections can also be born in the engine's loops: a listener from
// [Engine.Listener] accepts [Conn]s, and [DialNear] dials a backend into
// the loop of the client a context names ([WithNear]). A Conn is an
// ordinary net.Conn with deadlines until it is handed to Start, which then
// takes its socket over as it is: no duplicated descriptor, no second
// epoll registration, no runtime poller to leave. That is the proxy's
// path for plain TCP listeners, and it brings a churned connection down to
// about the system calls an event-driven C proxy makes.
//
//	ln := engine.Listener(tcpListener)
//	client, _ := ln.Accept()
//	// read the CONNECT from client, pick a backend ...
//	backend, _, err := splice.DialNear(splice.WithNear(ctx, client), backendAddr, 5*time.Second)
//
// Both forms share the semantics: bytes are never dropped, duplicated or
// reordered; the client's half-close is passed on to the backend, whose
// answer is still relayed; when the backend ends or fails, what it sent is
// delivered and both connections are closed, so a device notices and
// reconnects; an error on either side closes both; and a client silent for
// Config.ClientIdle is cut. Buffers come from a pool and are held only while
// bytes move.
package splice
